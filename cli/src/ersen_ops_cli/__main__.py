from ersen_ops_cli.main import main

raise SystemExit(main())
