"""Host-side support shared by the lab, the sandbox, the tests and the benchmarks (not
part of the installed ``nginx_ha`` package).

| module | what it holds |
|---|---|
| ``netns`` | network namespaces and the processes in them (standard library only) |
| ``stacks`` | the committed stack files as the engine hands them over, with test secrets |
| ``mocks`` | Pulumi mocks that run a program and record every resource, its inputs and options |
| ``nginx_validate`` | the real ``nginx -t`` on a rendered nginx.conf |
| ``shell`` | the support's own scripts (``support/templates/``), rendered like every template |
| ``live_nginx`` | nginx with a rendered config in front of two backends, in a network namespace |
| ``debian_keepalived`` | keepalived's upstream tarball from Debian's mirror; the install script run as the program runs it |
"""
