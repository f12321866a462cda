"""``python -m nginx_ha.render --stack dev --out DIR`` (see nginx_ha.render.cli)."""

from nginx_ha.render.cli import main

raise SystemExit(main())
