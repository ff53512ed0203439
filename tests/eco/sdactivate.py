#!/usr/bin/env python3
"""Socket activation without systemd, for tests.

    sdactivate.py [--other-pid] [--type stream|seqpacket] PATH CMD [ARG...]

Binds and listens on the Unix socket PATH, puts it at fd 3, sets
LISTEN_FDS=1 and LISTEN_PID to this process's pid (or, with --other-pid,
to a pid that is not ours) and execs CMD, which keeps the pid.
"""
import os
import socket
import sys


def main(argv):
    other = False
    stype = socket.SOCK_STREAM
    while argv and argv[0].startswith("--"):
        opt = argv.pop(0)
        if opt == "--other-pid":
            other = True
        elif opt == "--type":
            stype = {"stream": socket.SOCK_STREAM,
                     "seqpacket": socket.SOCK_SEQPACKET}[argv.pop(0)]
        else:
            sys.exit("sdactivate: unknown option " + opt)
    if len(argv) < 2:
        sys.exit(__doc__)
    path, cmd = argv[0], argv[1:]
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX, stype)
    s.bind(path)
    s.listen(8)
    if s.fileno() == 3:
        os.set_inheritable(s.detach(), True)
    else:
        os.dup2(s.fileno(), 3)  # dup2 makes fd 3 inheritable
        s.close()
    os.environ["LISTEN_FDS"] = "1"
    os.environ["LISTEN_FDNAMES"] = "test"
    os.environ["LISTEN_PID"] = str(os.getppid() if other else os.getpid())
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
