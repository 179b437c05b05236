"""`gaitlink` on a machine with only some extras installed (a Raspberry Pi gateway)."""

import subprocess
import sys
import textwrap


def _gaitlink_without(blocked: tuple[str, ...], *args: str) -> subprocess.CompletedProcess:
    # A meta-path finder that makes the blocked packages uninstallable, as on a Pi with
    # only the gateway extra, in a fresh interpreter so nothing is imported yet.
    code = textwrap.dedent(
        f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] in {blocked!r}:
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        sys.meta_path.insert(0, Block())
        from gaitlink.tools.cli import main
        sys.exit(main({list(args)!r}))
        """
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


PI = ("numpy", "numba", "aiohttp", "scipy", "matplotlib")


def test_cli__gateway_works_without_cloud_dependencies():
    result = _gaitlink_without(PI, "gateway", "run", "--help")
    assert result.returncode == 0, result.stderr
    assert "--site" in result.stdout


def test_cli__cloud_room_without_its_dependencies_names_the_extra():
    result = _gaitlink_without(PI, "gait", "segment", "x.csv")
    assert result.returncode == 2
    assert "pip install 'gaitlink[cloud]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli__help_lists_every_room_even_when_some_cannot_load():
    result = _gaitlink_without(PI, "--help")
    assert result.returncode == 0
    for name in ("stack", "gateway", "ingest", "gait", "bench"):
        assert name in result.stdout
