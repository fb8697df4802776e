"""Start the chat server from inside chat/: ``cd chat && python3 TCPServer.py [--port 5000 ...]``."""

import os
import sys

# Import chat as a package from the repo root, instead of this directory's modules as top-level ones.
sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from chat.server import main  # noqa: E402  (needs the path above)

if __name__ == "__main__":
    main()
