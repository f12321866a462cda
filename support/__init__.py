"""Host-side support shared by the lab, the sandbox and the tests: network namespaces
and the processes in them (``support.netns``). Standard library only."""
