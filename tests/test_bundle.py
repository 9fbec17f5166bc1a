"""The MCP bundle for Claude Desktop: the manifest validates, packs into the files uv needs and
nothing else, and promises the same tools and version as the server it starts."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
import zipfile
from pathlib import Path

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

REPO = Path(__file__).resolve().parents[1]
MANIFEST = json.loads((REPO / "manifest.json").read_text(encoding="utf-8"))
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))

# Top-level entries a bundle may hold; anything new must be a deliberate choice (.mcpbignore).
BUNDLE_TOP_LEVEL = {"manifest.json", "pyproject.toml", "README.md", "LICENSE", "server"}


@pytest.fixture(scope="session")
def mcpb() -> Path:
    path = REPO / "node_modules" / ".bin" / "mcpb"
    assert path.exists(), f"{path.relative_to(REPO)} is missing: run make npm"
    return path


def run(mcpb: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # No stdin: pack asks a question when manifest.json is missing, and CI has no one to answer.
    return subprocess.run(
        [str(mcpb), *args],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def bundle(mcpb: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    out = tmp_path_factory.mktemp("bundle") / "hostup-ipv6-mcp.mcpb"
    packed = run(mcpb, "pack", ".", str(out))
    assert packed.returncode == 0, packed.stdout + packed.stderr
    with zipfile.ZipFile(out) as archive:
        return archive.namelist()


def test_manifest_passes_mcpb_validate(mcpb: Path) -> None:
    checked = run(mcpb, "validate", "manifest.json")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_bundle_holds_the_server(bundle: list[str]) -> None:
    for name in ("manifest.json", "pyproject.toml", "server/hostup_ipv6_mcp/__init__.py"):
        assert name in bundle


def test_bundle_leaves_out_development_files(bundle: list[str]) -> None:
    leaked = [
        name
        for name in bundle
        if name.startswith((".venv/", "node_modules/", "tests/")) or "__pycache__" in name.split("/")
    ]
    assert leaked == []
    unexpected = {name.split("/")[0] for name in bundle} - BUNDLE_TOP_LEVEL
    assert unexpected == set(), "add these to .mcpbignore, or to BUNDLE_TOP_LEVEL if users need them"


def test_bundle_holds_what_uv_needs_to_start_it(bundle: list[str]) -> None:
    # `uv run` builds the project from the unpacked bundle. setuptools quietly drops a missing readme
    # from the metadata, and `mcpb validate` does not check that entry_point exists: check both here.
    project = PYPROJECT["project"]
    needed = {MANIFEST["server"]["entry_point"], project["readme"], *project.get("license-files", [])}
    assert needed - set(bundle) == set()


def test_manifest_version_is_the_package_version() -> None:
    assert MANIFEST["version"] == PYPROJECT["project"]["version"]


def test_every_user_setting_reaches_the_server_and_none_is_missing() -> None:
    config = MANIFEST["server"]["mcp_config"]
    passed = " ".join([*config.get("args", []), *config.get("env", {}).values()])
    referenced = set(re.findall(r"\$\{user_config\.([A-Za-z0-9_]+)\}", passed))
    assert referenced == set(MANIFEST["user_config"])


@pytest.mark.anyio
async def test_manifest_lists_the_tools_the_server_serves() -> None:
    command = REPO / ".venv" / "bin" / "hostup-ipv6-mcp"
    assert command.exists(), f"{command.relative_to(REPO)} is missing: run make venv"
    server = StdioServerParameters(command=str(command), args=["--sandbox"])
    with anyio.fail_after(60):
        async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            listed = await session.list_tools()
    assert {tool.name for tool in listed.tools} == {tool["name"] for tool in MANIFEST["tools"]}
