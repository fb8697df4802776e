from netconfig.cli import main

raise SystemExit(main())
