"""Start the chat client from inside chat/: ``cd chat && python3 TCPClient.py [--host H --port P]``."""

import os
import sys

# Import chat as a package from the repo root, instead of this directory's modules as top-level ones.
sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from chat.client import main  # noqa: E402  (needs the path above)

if __name__ == "__main__":
    main()
