from pyxmtp.cli.main import main

raise SystemExit(main())
