"""chat: the chatlab chat payload, stdlib-only Python: one server, two dialects (the line protocol and IRC),
one world of rooms.

Modules, one job each (pure cores first, then the I/O around them):
- ``protocol``: the line protocol: a text line parsed into a Command, every reply line formatted, ``clean``
- ``irc``: the IRC dialect: messages parsed and formatted, numerics, ISUPPORT, CAP, registration (docs/irc.md)
- ``rooms``: who is connected under which nickname, in which rooms (a line client in one, an IRC client in several)
- ``lines``: a byte stream split into lines with a maximum length
- ``ratelimit``: the token bucket behind flood control (IRC's fakelag)
- ``cli``: command-line helpers shared by the server and the client
- ``server``: the server: one event loop, both listeners, limits, keepalive (docs/keepalive.md), fan-out
- ``ircd``: what each IRC command does in the shared world, and its replies (no sockets: through the server)
- ``client``: the terminal client (curses) and the piped line pump, reconnecting, keepalive
- ``TCPServer``, ``TCPClient``: the historical entry points (``python3 TCPServer.py``)
"""
