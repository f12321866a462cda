"""What an operator sees (pure, no Pulumi): the live view of a stack and the progress
of long work.

| module | what it holds |
|---|---|
| ``status`` | the live view: parsers of a node's status report, the VIP holders, the table and the JSON |
| ``progress`` | phase lines and a live count (rich on a terminal, plain lines elsewhere) |
"""
