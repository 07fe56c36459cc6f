"""The product catalog: the packaged data recognises every application of
the fact sheet (docs/autodesk-detection.md) from real-looking processes,
and `parse` refuses every bad catalog with a message naming the field.

Processes are given as the agent sees them: the process name, the path of
its executable and its command line split into arguments, as psutil does.
"""

import copy
import shlex
import sys
from typing import Any

import pytest

from seatmeter.agent import catalog as catalog_module
from seatmeter.agent.catalog import (
    Catalog,
    CatalogError,
    Match,
    load_packaged,
    parse,
)

AEC = "Architecture, Engineering & Construction Collection"
PDM = "Product Design & Manufacturing Collection"
MEDIA = "Media & Entertainment Collection"
ADSK = "C:\\Program Files\\Autodesk"
ACAD_2024 = f"{ADSK}\\AutoCAD 2024\\acad.exe"


def argv(command_line: str) -> list[str]:
    """A Windows command line split as psutil gives it. Backslashes are
    doubled first so that the POSIX splitter keeps them."""
    return shlex.split(command_line.replace("\\", "\\\\"))


def shortcut(product: str, profile: str) -> str:
    """A vertical's desktop shortcut, quoting as Autodesk's installer does."""
    return (
        f'"{ACAD_2024}" /ld "{ADSK}\\AutoCAD 2024\\AecBase.dbx" '
        f'/p "<<{profile}>>" /product "{product}" /language "en-US"'
    )


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_packaged()


# name, exe, command line, application, release
RECOGNISED = [
    ("acad.exe", ACAD_2024, f'"{ACAD_2024}"', "AutoCAD", "2024"),
    ("acad.exe", ACAD_2024, f'"{ACAD_2024}" /product ACAD', "AutoCAD", "2024"),
    ("acad.exe", ACAD_2024, shortcut("C3D", "C3D_Metric"), "Civil 3D", "2024"),
    ("acad.exe", ACAD_2024, shortcut("PLNT3D", "PLANT3D"), "Plant 3D", "2024"),
    ("acad.exe", ACAD_2024, shortcut("MAP", "MAP3D"), "Map 3D", "2024"),
    ("acad.exe", ACAD_2024, shortcut("ACA", "AEC"), "AutoCAD Architecture", "2024"),
    ("acad.exe", ACAD_2024, shortcut("ACADM", "ACM"), "AutoCAD Mechanical", "2024"),
    ("acad.exe", ACAD_2024, shortcut("MEP", "MEP"), "AutoCAD MEP", "2024"),
    ("acad.exe", ACAD_2024, shortcut("ACADE", "ACE"), "AutoCAD Electrical", "2024"),
    (
        "acad.exe",
        f"{ADSK}\\AutoCAD Civil 3D 2018\\acad.exe",
        f'"{ADSK}\\AutoCAD Civil 3D 2018\\acad.exe" /product C3D',
        "Civil 3D",
        "2018",
    ),
    (
        "acadlt.exe",
        f"{ADSK}\\AutoCAD LT 2024\\acadlt.exe",
        None,
        "AutoCAD LT",
        "2024",
    ),
    ("Revit.exe", f"{ADSK}\\Revit 2025\\Revit.exe", None, "Revit", "2025"),
    ("Revit.exe", f"{ADSK}\\Revit LT 2024\\Revit.exe", None, "Revit LT", "2024"),
    (
        "Inventor.exe",
        f"{ADSK}\\Inventor 2024\\Bin\\Inventor.exe",
        None,
        "Inventor",
        "2024",
    ),
    ("3dsmax.exe", f"{ADSK}\\3ds Max 2024\\3dsmax.exe", None, "3ds Max", "2024"),
    ("maya.exe", f"{ADSK}\\Maya2024\\bin\\maya.exe", None, "Maya", "2024"),
    ("maya.bin", "/usr/autodesk/maya2024/bin/maya.bin", None, "Maya", "2024"),
    (
        "Maya",
        "/Applications/Autodesk/maya2025/Maya.app/Contents/MacOS/Maya",
        None,
        "Maya",
        "2025",
    ),
    (
        "Roamer.exe",
        f"{ADSK}\\Navisworks Manage 2024\\Roamer.exe",
        None,
        "Navisworks Manage",
        "2024",
    ),
    (
        "Roamer.exe",
        f"{ADSK}\\Navisworks Simulate 2025\\Roamer.exe",
        None,
        "Navisworks Simulate",
        "2025",
    ),
    (
        "Roamer.exe",
        f"{ADSK}\\Navisworks Freedom 2024\\Roamer.exe",
        None,
        "Navisworks Freedom",
        "2024",
    ),
    # Its folder has no year; the file version (Windows only) tells it.
    ("InfraWorks.exe", f"{ADSK}\\InfraWorks\\InfraWorks.exe", None, "InfraWorks", ""),
    (
        "robot.exe",
        f"{ADSK}\\Robot Structural Analysis Professional 2024\\System\\Exe\\robot.exe",
        None,
        "Robot Structural Analysis",
        "2024",
    ),
    (
        "cadmep.exe",
        f"{ADSK}\\Fabrication 2024\\CADmep\\cadmep.exe",
        None,
        "Fabrication CADmep",
        "2024",
    ),
    (
        "ESTmep.exe",
        f"{ADSK}\\Fabrication 2024\\ESTmep\\ESTmep.exe",
        None,
        "Fabrication ESTmep",
        "2024",
    ),
    (
        "CAMduct.exe",
        f"{ADSK}\\Fabrication 2023\\CAMduct\\CAMduct.exe",
        None,
        "Fabrication CAMduct",
        "2023",
    ),
    (
        "motionbuilder.exe",
        f"{ADSK}\\MotionBuilder 2024\\bin\\x64\\motionbuilder.exe",
        None,
        "MotionBuilder",
        "2024",
    ),
    (
        "Fusion360.exe",
        "C:\\Users\\jdoe\\AppData\\Local\\Autodesk\\webdeploy\\production"
        "\\6a0c9611291d45bb9226980209917c3d\\Fusion360.exe",
        None,
        "Fusion",
        "",
    ),
    # Linux-style paths: the same rules, whatever the agent's system.
    (
        "acad.exe",
        "/tmp/x/Autodesk/AutoCAD 2024/acad.exe",
        "/tmp/x/Autodesk/AutoCAD\\ 2024/acad.exe /product C3D",
        "Civil 3D",
        "2024",
    ),
    ("Revit.exe", "/tmp/x/Autodesk/Revit 2025/Revit.exe", None, "Revit", "2025"),
]


@pytest.mark.parametrize(
    ("name", "exe", "command_line", "application", "release"),
    RECOGNISED,
    ids=[case[3] for case in RECOGNISED],
)
def test_recognises_every_application(
    catalog: Catalog,
    name: str,
    exe: str,
    command_line: str | None,
    application: str,
    release: str,
) -> None:
    cmdline = _cmdline(command_line, exe)
    found = catalog.match(name.lower(), exe, cmdline)
    legacy = bool(release) and int(release) < 2020
    assert found == Match(application, release, legacy, problem=None)


def _cmdline(command_line: str | None, exe: str) -> list[str]:
    if command_line is None:
        return [exe]
    # Linux-style lines are already shell-quoted; Windows ones are not.
    if command_line.startswith("/"):
        return shlex.split(command_line)
    return argv(command_line)


# name, exe, command line: each differs from a plain AutoCAD 2024 run in
# one way that must not change what is recognised.
VARIANTS = {
    "upper-case name and path": (
        "ACAD.EXE",
        ACAD_2024.upper(),
        [ACAD_2024.upper(), "/PRODUCT", "c3d"],
    ),
    "dash switch": ("acad.exe", ACAD_2024, [ACAD_2024, "-product", "C3D"]),
    "attached code": ("acad.exe", ACAD_2024, [ACAD_2024, "/product:C3D"]),
    "quotes left on": ("acad.exe", ACAD_2024, [f'"{ACAD_2024}"', "/product", '"C3D"']),
    "no exe path": ("acad.exe", None, [ACAD_2024, "/product", "C3D"]),
    "known by exe only": ("wine64-preloade", ACAD_2024, ["x", "/product", "C3D"]),
    "known by argument only": ("wine64-preloade", None, [ACAD_2024, "/product", "C3D"]),
}


@pytest.mark.parametrize(("name", "exe", "cmdline"), VARIANTS.values(), ids=VARIANTS)
def test_matching_ignores_case_quotes_and_where_the_name_is_found(
    catalog: Catalog, name: str, exe: str | None, cmdline: list[str]
) -> None:
    assert catalog.match(name, exe, cmdline) == Match("Civil 3D", "2024", False)


def test_revit_in_any_case(catalog: Catalog) -> None:
    exe = f"{ADSK}\\Revit 2024\\revit.EXE"
    assert catalog.match("revit.EXE", exe, [exe]) == Match("Revit", "2024", False)


# exe, command line, release
RELEASE_FALLBACKS = [
    ("D:\\CAD\\R24.3\\acad.exe", None, "2024"),
    ("D:\\CAD\\R25.1\\acad.exe", None, "2026"),
    (
        "D:\\CAD\\acad.exe",
        'D:\\CAD\\acad.exe /s "C:\\Users\\jdoe\\AppData\\Roaming\\Autodesk'
        '\\AutoCAD\\R24.0\\enu\\Support"',
        "2021",
    ),
    ("D:\\CAD\\acad.exe", "D:\\CAD\\acad.exe /product C3D", ""),
    ("D:\\CAD\\R29.9\\acad.exe", None, ""),
]


@pytest.mark.parametrize(("exe", "command_line", "release"), RELEASE_FALLBACKS)
def test_release_from_autocad_release_numbers(
    catalog: Catalog, exe: str, command_line: str | None, release: str
) -> None:
    found = catalog.match("acad.exe", exe, _cmdline(command_line, exe))
    assert found is not None
    assert found.release == release


@pytest.mark.parametrize(
    ("folder", "application", "release"),
    [
        ("Navisworks Manage 21", "Navisworks Manage", "2024"),
        ("Navisworks Simulate\\22.0", "Navisworks Simulate", "2025"),
        ("Navisworks Manage v23", "Navisworks Manage", "2026"),
    ],
)
def test_release_from_navisworks_internal_numbers(
    catalog: Catalog, folder: str, application: str, release: str
) -> None:
    exe = f"D:\\Apps\\{folder}\\Roamer.exe"
    assert catalog.match("roamer.exe", exe, None) == Match(application, release, False)


@pytest.mark.parametrize(
    ("year", "legacy"),
    [("2018", True), ("2019", True), ("2020", False), ("2026", False)],
)
def test_legacy_before_2020(catalog: Catalog, year: str, legacy: bool) -> None:
    exe = f"{ADSK}\\AutoCAD {year}\\acad.exe"
    assert catalog.match("acad.exe", exe, [exe]) == Match("AutoCAD", year, legacy)


def test_unknown_release_is_not_legacy(catalog: Catalog) -> None:
    found = catalog.match("acad.exe", "D:\\CAD\\acad.exe", None)
    assert found == Match("AutoCAD", "", legacy=False)


@pytest.mark.parametrize("switch", [["/product", "XYZ"], ["/product:xyz"]])
def test_unknown_product_code_counts_as_autocad_with_a_problem(
    catalog: Catalog, switch: list[str]
) -> None:
    found = catalog.match("acad.exe", ACAD_2024, [ACAD_2024, *switch])
    assert found is not None
    assert (found.application, found.release) == ("AutoCAD", "2024")
    assert found.problem is not None
    assert "'XYZ'" in found.problem
    assert "acad.exe" in found.problem


def test_roamer_in_an_unknown_folder_counts_as_manage_with_a_problem(
    catalog: Catalog,
) -> None:
    found = catalog.match("roamer.exe", "D:\\Tools\\Roamer.exe", None)
    assert found is not None
    assert found.application == "Navisworks Manage"
    assert found.problem is not None
    assert "D:\\Tools\\Roamer.exe" in found.problem


NOT_AUTODESK = {
    "python": ("python3", "/usr/bin/python3.11", ["python3", "-m", "pytest"]),
    "notepad": (
        "notepad.exe",
        "C:\\Windows\\System32\\notepad.exe",
        ["notepad.exe", ACAD_2024],
    ),
    "backup file": (
        "acad.exe.bak",
        f"{ADSK}\\AutoCAD 2024\\acad.exe.bak",
        [f"{ADSK}\\AutoCAD 2024\\acad.exe.bak"],
    ),
    "acad.exe as an argument": ("python3", None, ["python3", "acad.exe"]),
    "nothing known": ("", None, None),
}


@pytest.mark.parametrize(("name", "exe", "cmdline"), NOT_AUTODESK.values(), ids=NOT_AUTODESK)
def test_other_processes_are_not_matched(
    catalog: Catalog, name: str, exe: str | None, cmdline: list[str] | None
) -> None:
    assert catalog.match(name, exe, cmdline) is None


def test_executables_are_the_lower_case_names_to_scan_for(catalog: Catalog) -> None:
    assert {"acad.exe", "acadlt.exe", "revit.exe", "roamer.exe", "maya.bin"} <= (
        catalog.executables
    )
    assert all(name == name.lower() for name in catalog.executables)


def test_usage_file_patterns_fill_in_the_release_only(catalog: Catalog) -> None:
    patterns = catalog.usage_file_patterns("Civil 3D", "2019")
    assert patterns
    assert all("2019" in pattern and "{release}" not in pattern for pattern in patterns)
    assert all(pattern.startswith("{localappdata}/") for pattern in patterns)
    assert catalog.usage_file_patterns("Notepad", "2019") == []


def test_entitled_by_the_product_and_its_collections(catalog: Catalog) -> None:
    assert catalog.entitled_by("Revit") == ["Revit", AEC]
    assert AEC in catalog.entitled_by("Civil 3D")
    assert set(catalog.entitled_by("3ds Max")) >= {AEC, PDM, MEDIA}
    assert catalog.entitled_by("Notepad") == []


def test_collections_are_spelled_as_autodesk_does(catalog: Catalog) -> None:
    pools = {
        pool
        for application in catalog.as_document()["applications"]
        for pool in application["entitled_by"]
    }
    assert {pool for pool in pools if "Collection" in pool} == {AEC, PDM, MEDIA}


def test_packaged_catalog_round_trips(catalog: Catalog) -> None:
    document = catalog.as_document()
    assert parse(document).as_document() == document
    assert document["revision"] >= 1


def test_as_document_is_a_copy(catalog: Catalog) -> None:
    catalog.as_document()["applications"].clear()
    assert catalog.as_document()["applications"]


@pytest.mark.skipif(sys.platform == "win32", reason="Windows has file versions")
def test_no_file_version_outside_windows() -> None:
    assert catalog_module._file_version(sys.executable) is None


# Bad catalogs: a small valid one, then one thing wrong in each case.

VALID: dict[str, Any] = {
    "_note": "comments are keys starting with an underscore",
    "revision": 3,
    "release_numbers": {
        "autocad": {"pattern": "\\bR(\\d{2}\\.\\d)\\b", "releases": {"24.3": "2024"}}
    },
    "applications": [
        {
            "name": "AutoCAD",
            "executables": ["acad.exe"],
            "product_code": None,
            "product_code_aliases": ["ACAD"],
            "release_pattern": "/autocad (\\d{4})/",
            "release_numbers": "autocad",
            "legacy_before": 2020,
            "usage_files": ["{localappdata}/Autodesk/AutoCAD {release}/*"],
            "entitled_by": ["AutoCAD"],
        },
        {
            "_note": "a vertical",
            "name": "Civil 3D",
            "executables": ["acad.exe"],
            "product_code": "C3D",
            "folder": None,
            "release_pattern": None,
            "release_numbers": None,
            "legacy_before": 2020,
            "usage_files": [],
            "entitled_by": ["Civil 3D", AEC],
        },
    ],
}


def test_the_small_catalog_is_valid() -> None:
    small = parse(VALID)
    assert small.revision == 3
    assert small.match("acad.exe", "/x/AutoCAD 2019/acad.exe", None) == Match(
        "AutoCAD", "2019", True
    )


REMOVE = object()
APP = "applications.0"


def _set(path: str, value: object) -> dict[str, Any]:
    """VALID with the field at `path` (dotted, list indexes as numbers)
    set to `value`, or removed when value is REMOVE."""
    document = copy.deepcopy(VALID)
    *parents, last = path.split(".")
    target: Any = document
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is REMOVE:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return document


# document, words the message must contain
BAD_CATALOGS = {
    "not an object": ([VALID], ["catalog"]),
    "no revision": (_set("revision", REMOVE), ["revision", "missing"]),
    "negative revision": (_set("revision", -1), ["revision", "-1"]),
    "text revision": (_set("revision", "1"), ["revision", '"1"']),
    "boolean revision": (_set("revision", True), ["revision", "true"]),
    "unknown top field": (_set("revisions", 2), ["revisions", "unknown field"]),
    "applications not a list": (_set("applications", {}), ["applications"]),
    "no applications": (_set("applications", []), ["applications"]),
    "application not an object": (_set(APP, "AutoCAD"), ["applications[0]"]),
    "no name": (_set(f"{APP}.name", REMOVE), ["applications[0].name", "missing"]),
    "empty name": (_set(f"{APP}.name", " "), ["applications[0].name"]),
    "misspelt field": (
        _set(f"{APP}.executable", ["acad.exe"]),
        ["applications[0].executable", "unknown field"],
    ),
    "executables not a list": (
        _set(f"{APP}.executables", "acad.exe"),
        ["applications[0].executables", '"acad.exe"'],
    ),
    "no executables": (_set(f"{APP}.executables", []), ["applications[0].executables"]),
    "executable not a string": (
        _set(f"{APP}.executables", [7]),
        ["applications[0].executables[0]", "7"],
    ),
    "upper-case executable": (
        _set(f"{APP}.executables", ["Acad.exe"]),
        ["applications[0].executables[0]", "Acad.exe"],
    ),
    "executable with a folder": (
        _set(f"{APP}.executables", ["autocad\\acad.exe"]),
        ["applications[0].executables[0]"],
    ),
    "no product code": (_set(f"{APP}.product_code", REMOVE), ["applications[0].product_code"]),
    "numeric product code": (
        _set("applications.1.product_code", 3),
        ["applications[1].product_code", "3"],
    ),
    "product code with a space": (
        _set("applications.1.product_code", "C 3D"),
        ["applications[1].product_code", "C 3D"],
    ),
    "bad alias": (
        _set(f"{APP}.product_code_aliases", ["AC AD"]),
        ["applications[0].product_code_aliases[0]", "AC AD"],
    ),
    "bad release regex": (
        _set(f"{APP}.release_pattern", "/autocad (\\d{4}/"),
        ["applications[0].release_pattern", "missing ), unterminated subpattern"],
    ),
    "release pattern without a group": (
        _set(f"{APP}.release_pattern", "/autocad \\d{4}/"),
        ["applications[0].release_pattern", "exactly one group", "has 0"],
    ),
    "release pattern with two groups": (
        _set(f"{APP}.release_pattern", "/(autocad) (\\d{4})/"),
        ["applications[0].release_pattern", "has 2"],
    ),
    "no release pattern": (
        _set(f"{APP}.release_pattern", REMOVE),
        ["applications[0].release_pattern", "missing"],
    ),
    "bad folder regex": (
        _set("applications.1.folder", "[civil"),
        ["applications[1].folder", "unterminated character set"],
    ),
    "unknown release numbers": (
        _set(f"{APP}.release_numbers", "autocab"),
        ["applications[0].release_numbers", "autocab", "known: autocad"],
    ),
    "release numbers not an object": (
        _set("release_numbers", ["autocad"]),
        ["release_numbers"],
    ),
    "release numbers pattern without a group": (
        _set("release_numbers.autocad.pattern", "\\bR\\d{2}"),
        ["release_numbers.autocad.pattern", "has 0"],
    ),
    "release year not a year": (
        _set("release_numbers.autocad.releases", {"24.3": "24"}),
        ["release_numbers.autocad.releases['24.3']", '"24"'],
    ),
    "internal number not a number": (
        _set("release_numbers.autocad.releases", {"R24.3": "2024"}),
        ["release_numbers.autocad.releases['R24.3']", "R24.3"],
    ),
    "text legacy_before": (
        _set(f"{APP}.legacy_before", "2020"),
        ["applications[0].legacy_before", '"2020"'],
    ),
    "unknown placeholder": (
        _set(f"{APP}.usage_files", ["{userprofile}/x/*"]),
        ["applications[0].usage_files[0]", "{userprofile}"],
    ),
    "unmatched brace": (
        _set(f"{APP}.usage_files", ["{localappdata/x/*"]),
        ["applications[0].usage_files[0]", "unmatched brace"],
    ),
    "usage files not a list": (
        _set(f"{APP}.usage_files", "{localappdata}/x"),
        ["applications[0].usage_files"],
    ),
    "no entitled_by": (_set(f"{APP}.entitled_by", REMOVE), ["applications[0].entitled_by"]),
    "empty pool name": (
        _set(f"{APP}.entitled_by", [""]),
        ["applications[0].entitled_by[0]"],
    ),
    "duplicate name": (
        _set("applications.1.name", "AutoCAD"),
        ["applications[1].name", "twice"],
    ),
    "duplicate executable and code": (
        _set("applications.1.product_code", "acad"),
        ["applications[1].product_code", "acad.exe", "'ACAD'", "applications[0]"],
    ),
    "two base applications": (
        _set("applications.1.product_code", None),
        ["applications[1].product_code", "acad.exe", "applications[0]"],
    ),
    "no base application": (
        _set(f"{APP}.executables", ["acadx.exe"]),
        ["applications[1].product_code", "acad.exe", "product_code null"],
    ),
}


@pytest.mark.parametrize(("document", "words"), BAD_CATALOGS.values(), ids=BAD_CATALOGS)
def test_bad_catalogs_are_refused_naming_the_field(document: object, words: list[str]) -> None:
    with pytest.raises(CatalogError) as refused:
        parse(document)
    message = str(refused.value)
    for word in words:
        assert word in message, message


def test_catalog_error_is_a_value_error() -> None:
    assert issubclass(CatalogError, ValueError)
