from revmux.cli.main import main

raise SystemExit(main())
