"""examples/quickstart.py runs against the demo bank, as the README promises."""

from __future__ import annotations

import importlib.util

from core import demo
from core.settings import REPO_ROOT


def test_quickstart_walks_through_the_demo(db, app, clock, live_server):
    with db.unit_of_work() as session:
        assert demo.seed(session, app.state.services.passwords, clock)
    with db.unit_of_work() as session:
        assert not demo.seed(
            session, app.state.services.passwords, clock
        )  # a second run adds nothing

    spec = importlib.util.spec_from_file_location(
        "quickstart", REPO_ROOT / "examples" / "quickstart.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    lines: list[str] = []
    result = module.main(live_server.url, out=lines.append)
    assert result["replayed"] == "true"
    assert result["refused"]["error"] == "limit_per_transfer"
    outcomes = [a["outcome"] for a in result["activity"]]
    assert outcomes[:3] == ["refused", "replayed", "succeeded"]
    assert any("entry" in line for line in lines)
