"""The product catalog: which processes are Autodesk applications, and
which release of them.

The catalog is data, `catalog.json` in this package, which the server may
replace with a newer revision; this module validates it and matches
processes against it. It uses the standard library only: every agent
imports it, and the server imports it to check a catalog before pushing it.

A process is an application when its name, or the file name of its
executable or of its first argument, is one of the catalog's executables,
compared case-insensitively on every operating system. Applications that
share an executable are told apart by the `/product CODE` switch (the
AutoCAD verticals) or by a `folder` pattern on the executable's path
(Navisworks Manage, Simulate and Freedom).

The release year comes, in order, from the application's `release_pattern`
on the executable's path; from its `release_numbers` scheme (an internal
number, such as AutoCAD's R24.3, in the path or the command line); and on
Windows from the executable's file version, mapped through that scheme.
Patterns see paths and command lines with every `\\` turned into `/`, so
one pattern serves Windows, Linux and macOS paths.

The document holds a `revision` (agents take a higher one), named
`release_numbers` schemes (a `pattern` whose one group captures the internal
number, or null to read only the file version, and `releases` from internal
numbers such as "24.3" or "21" to years) and `applications`, each with:

- `name`, as reported, and `executables`, lower-case file names;
- `product_code`, null for the base application of a shared executable,
  which also runs for an unknown code, and optional `product_code_aliases`
  (ACAD for AutoCAD); an optional `folder` pattern;
- `release_pattern`, whose one group captures the year, and
  `release_numbers`, a scheme's name; either may be null;
- `legacy_before`, the first release tracked by process lifetime;
- `usage_files`, glob patterns with the placeholders in PLACEHOLDERS;
- `entitled_by`, the product pools (products, collections) that entitle it.

Keys starting with `_` are comments. The usage-file patterns are plausible
guesses: Autodesk does not document where its desktop analytics writes
those files, so the administrator is expected to correct them.
"""

import copy
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any

PLACEHOLDERS = ("home", "appdata", "localappdata", "programdata", "release")

_TOP_FIELDS = frozenset({"revision", "release_numbers", "applications"})
_SCHEME_FIELDS = frozenset({"pattern", "releases"})
_APPLICATION_FIELDS = frozenset(
    {
        "name",
        "executables",
        "product_code",
        "product_code_aliases",
        "folder",
        "release_pattern",
        "release_numbers",
        "legacy_before",
        "usage_files",
        "entitled_by",
    }
)
_PRODUCT_SWITCH = re.compile(r"[/-]product(?:[:=](.*))?", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_INTERNAL_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_YEAR = re.compile(r"\d{4}")
_CODE = re.compile(r"[A-Za-z0-9_]+")
_MAX_SHOWN = 60


class CatalogError(ValueError):
    """A catalog that cannot be used; the message names the field at
    fault and its value, e.g. `applications[3].release_pattern: ...`."""


@dataclass(frozen=True)
class Match:
    application: str  # catalog display name, e.g. "Civil 3D"
    release: str  # "2024", or "" when unknown (Fusion, or nothing found)
    legacy: bool  # release known and older than the application's legacy_before
    problem: str | None = None  # one sentence for the server, e.g. an unknown code


@dataclass(frozen=True, eq=False)
class _ReleaseNumbers:
    """An internal numbering, such as AutoCAD's R24.3, and its years."""

    pattern: re.Pattern[str] | None
    releases: dict[str, str]

    def find(self, text: str) -> str:
        """The year of the first known internal number in `text`."""
        if self.pattern is None:
            return ""
        for found in self.pattern.finditer(text):
            year = self.year_of(found.group(1) or "")
            if year:
                return year
        return ""

    def year_of(self, number: str) -> str:
        # Navisworks 21.0 is release 21, as much as 21 is.
        major = number.split(".")[0]
        return self.releases.get(number) or self.releases.get(major, "")


@dataclass(frozen=True, eq=False)
class _Application:
    name: str
    executables: tuple[str, ...]
    product_code: str | None
    codes: frozenset[str]  # upper-case: product_code and its aliases
    folder: re.Pattern[str] | None
    release_pattern: re.Pattern[str] | None
    release_numbers: _ReleaseNumbers | None
    legacy_before: int
    usage_files: tuple[str, ...]
    entitled_by: tuple[str, ...]

    def release(self, path: str, command_line: str, exe: str | None) -> str:
        found = self.release_pattern.search(path) if self.release_pattern else None
        year = found.group(1) if found else None
        if year and _YEAR.fullmatch(year):
            return year
        numbers = self.release_numbers
        if numbers is None:
            return ""
        return numbers.find(path) or numbers.find(command_line) or _release_of_file(exe, numbers)


class Catalog:
    """A validated catalog, ready to match processes; see `parse`."""

    revision: int
    executables: frozenset[str]

    def __init__(
        self,
        revision: int,
        applications: Sequence[_Application],
        document: dict[str, Any],
    ) -> None:
        self.revision = revision
        self._document = document
        self._by_name = {app.name: app for app in applications}

        # Applications by executable, in catalog order, for one lookup.
        families: dict[str, list[_Application]] = {}
        for app in applications:
            for executable in app.executables:
                families.setdefault(executable, []).append(app)
        self._families = {name: tuple(apps) for name, apps in families.items()}
        self.executables = frozenset(self._families)

    def match(self, name: str, exe: str | None, cmdline: list[str] | None) -> Match | None:
        """The application a process runs, or None if it runs none.

        `name` is the process name, `exe` its executable's path and
        `cmdline` its arguments, the last two None when not readable.
        """
        first = cmdline[0] if cmdline else None
        executable = self._executable_of(name, exe, first)
        if executable is None:
            return None

        # Without an exe path, the first argument is the next best path.
        arguments = [_unquote(argument) for argument in cmdline or ()]
        path = exe or (arguments[0] if arguments else "")
        family = self._families[executable]
        app, problem = _choose(executable, family, path, arguments)
        release = app.release(_slashed(path), _slashed(" ".join(arguments)), exe)
        legacy = bool(release) and int(release) < app.legacy_before
        return Match(app.name, release, legacy, problem)

    def usage_file_patterns(self, application: str, release: str) -> list[str]:
        """Glob patterns of a legacy release's usage files, `{release}`
        filled in and the folder placeholders left for the caller; none
        for an application this catalog does not know."""
        known = self._by_name.get(application)
        patterns = known.usage_files if known else ()
        return [pattern.replace("{release}", release) for pattern in patterns]

    def entitled_by(self, application: str) -> list[str]:
        """The product pools (products and collections) whose seats
        entitle the application; none for an unknown application."""
        known = self._by_name.get(application)
        return list(known.entitled_by) if known else []

    def as_document(self) -> dict[str, Any]:
        """The JSON document this catalog was parsed from (a copy)."""
        return copy.deepcopy(self._document)

    def _executable_of(self, name: str, exe: str | None, first: str | None) -> str | None:
        for path in (name, exe, first):
            executable = _file_name(path)
            if executable in self._families:
                return executable
        return None


def parse(document: object) -> Catalog:
    """Validate a catalog document (parsed JSON); raise CatalogError,
    naming the field and the bad value, at the first fault."""
    top = _Reader(document, "", _TOP_FIELDS)
    revision = top.integer("revision", minimum=0)
    schemes = _release_schemes(top.fields.get("release_numbers", {}))
    applications = _applications(top.required("applications"), schemes)
    return Catalog(revision, applications, copy.deepcopy(top.fields))


@cache
def load_packaged() -> Catalog:
    """The catalog shipped in this package. Cached: it cannot change under
    a running process, and a Catalog is never modified."""
    packaged = resources.files("seatmeter.agent").joinpath("catalog.json")
    return parse(json.loads(packaged.read_text(encoding="utf-8")))


# Matching


def _choose(
    executable: str,
    family: Sequence[_Application],
    path: str,
    arguments: list[str],
) -> tuple[_Application, str | None]:
    """The application among those sharing an executable, and a problem
    sentence when the choice is a fallback."""
    coded = any(app.codes for app in family)
    code = _product_code(arguments) if coded else None
    by_code = [app for app in family if code in app.codes] if code else []
    # An unknown code still runs the base application: count it, say so.
    bases = [app for app in family if app.product_code is None]
    candidates = by_code or bases
    application, in_known_folder = _by_folder(candidates, _slashed(path))

    if code and not by_code:
        return application, (
            f"{executable} was started with product code {code!r}, which the "
            f"catalog does not know; it is reported as {application.name}"
        )
    if not in_known_folder:
        names = ", ".join(app.name for app in candidates)
        return application, (
            f'{executable} at "{path}" is in no folder that tells {names} '
            f"apart; it is reported as {application.name}"
        )
    return application, None


def _by_folder(candidates: list[_Application], path: str) -> tuple[_Application, bool]:
    """The candidate whose folder the path is in, else the one with no
    folder; else the first, and False: the folder told nothing."""
    for application in candidates:
        if application.folder and application.folder.search(path):
            return application, True
    for application in candidates:
        if application.folder is None:
            return application, True
    return candidates[0], False


def _product_code(arguments: list[str]) -> str | None:
    """The code of `/product C3D`, `-product C3D` or `/product:C3D`."""
    for index, argument in enumerate(arguments[1:], start=1):
        switch = _PRODUCT_SWITCH.fullmatch(argument)
        if switch is None:
            continue
        attached = switch.group(1)
        following = arguments[index + 1 : index + 2] or [""]
        code = _unquote(following[0] if attached is None else attached)
        return code.upper() or None
    return None


def _release_of_file(exe: str | None, numbers: _ReleaseNumbers) -> str:
    version = _file_version(exe) if exe else None
    return numbers.year_of(f"{version[0]}.{version[1]}") if version else ""


@lru_cache(maxsize=256)
def _file_version(exe: str) -> tuple[int, int] | None:
    """Major and minor of a Windows executable's file version, or None.

    Other systems have no PE version to read. It never raises: a version
    it cannot read only means one fallback fewer. Cached by path, since
    an update in place keeps the release year.
    """
    if sys.platform != "win32":
        return None
    try:
        return _read_version_resource(exe)
    except Exception:  # any failure of the Win32 calls means "no version"
        return None


def _read_version_resource(exe: str) -> tuple[int, int] | None:
    if sys.platform != "win32":  # unreachable; tells type checkers so
        return None
    import ctypes
    from ctypes import wintypes

    version = ctypes.WinDLL("version.dll")
    size = version.GetFileVersionInfoSizeW(exe, None)
    if not size:
        return None
    data = ctypes.create_string_buffer(size)
    if not version.GetFileVersionInfoW(exe, 0, size, data):
        return None
    fixed, length = ctypes.c_void_p(), wintypes.UINT()
    found = version.VerQueryValueW(data, "\\", ctypes.byref(fixed), ctypes.byref(length))
    if not found:
        return None

    # VS_FIXEDFILEINFO opens with its signature, its own version, then
    # the file version's high word: major << 16 | minor.
    words = ctypes.cast(fixed, ctypes.POINTER(ctypes.c_uint32 * 3)).contents
    if words[0] != 0xFEEF04BD:
        return None
    return words[2] >> 16, words[2] & 0xFFFF


def _file_name(path: str | None) -> str:
    return _slashed(_unquote(path or "")).rsplit("/", 1)[-1].lower()


def _slashed(path: str) -> str:
    return path.replace("\\", "/")


def _unquote(argument: str) -> str:
    # Shortcuts quote paths and codes; a naive split leaves the quotes on.
    return argument.strip().strip('"')


# Validation


class _Reader:
    """One JSON object of the catalog, read field by field, with its place
    in the document for error messages."""

    def __init__(self, value: object, where: str, known: frozenset[str]) -> None:
        if not isinstance(value, dict):
            raise CatalogError(f"{where or 'catalog'}: needs a JSON object, got {_show(value)}")
        for key in value:
            if not (key in known or str(key).startswith("_")):
                raise CatalogError(
                    f"{_at(where, str(key))}: unknown field; known fields are "
                    f"{', '.join(sorted(known))}, and comments start with '_'"
                )
        self.fields: dict[str, Any] = value
        self.where = where

    def at(self, key: str) -> str:
        return _at(self.where, key)

    def required(self, key: str) -> object:
        if key not in self.fields:
            raise CatalogError(f"{self.at(key)}: missing")
        return self.fields[key]

    def text(self, key: str) -> str:
        return _text(self.required(key), self.at(key))

    def integer(self, key: str, minimum: int) -> int:
        value = self.required(key)
        # bool is an int to Python, but `true` is no revision.
        if type(value) is not int or value < minimum:
            raise CatalogError(
                f"{self.at(key)}: needs a whole number of at least {minimum}, got {_show(value)}"
            )
        return value

    def texts(self, key: str, *, optional: bool = False) -> list[str]:
        value = self.fields.get(key, []) if optional else self.required(key)
        if not isinstance(value, list):
            raise CatalogError(f"{self.at(key)}: needs a list of strings, got {_show(value)}")
        return [_text(item, f"{self.at(key)}[{index}]") for index, item in enumerate(value)]

    def pattern(
        self, key: str, *, one_group: bool, optional: bool = False
    ) -> re.Pattern[str] | None:
        value = self.fields.get(key) if optional else self.required(key)
        if value is None:
            return None
        where = self.at(key)
        return _compile(_text(value, where), where, one_group=one_group)


def _release_schemes(value: object) -> dict[str, _ReleaseNumbers]:
    schemes = {}
    for name, scheme in _mapping(value, "release_numbers").items():
        reader = _Reader(scheme, f"release_numbers.{name}", _SCHEME_FIELDS)
        pattern = reader.pattern("pattern", one_group=True)
        schemes[name] = _ReleaseNumbers(pattern, _releases(reader))
    return schemes


def _releases(scheme: _Reader) -> dict[str, str]:
    releases = {}
    at = scheme.at("releases")
    for number, year in _mapping(scheme.required("releases"), at).items():
        where = f"{at}[{number!r}]"
        if not _INTERNAL_NUMBER.fullmatch(number):
            raise CatalogError(
                f"{where}: {number!r} is not an internal number such as '24.3' or '21'"
            )
        if not isinstance(year, str) or not _YEAR.fullmatch(year):
            raise CatalogError(f'{where}: needs a release year such as "2024", got {_show(year)}')
        releases[number] = year
    return releases


def _applications(value: object, schemes: dict[str, _ReleaseNumbers]) -> list[_Application]:
    if not isinstance(value, list) or not value:
        raise CatalogError(f"applications: needs a non-empty list, got {_show(value)}")
    applications = []
    for index, entry in enumerate(value):
        where = f"applications[{index}]"
        reader = _Reader(entry, where, _APPLICATION_FIELDS)
        applications.append(_application(reader, schemes))
    _check_unique(applications)
    return applications


def _application(entry: _Reader, schemes: dict[str, _ReleaseNumbers]) -> _Application:
    name = entry.text("name")
    executables = _executables(entry)
    product_code, codes = _codes(entry)
    return _Application(
        name=name,
        executables=tuple(executables),
        product_code=product_code,
        codes=codes,
        folder=entry.pattern("folder", one_group=False, optional=True),
        release_pattern=entry.pattern("release_pattern", one_group=True),
        release_numbers=_scheme(entry, schemes),
        legacy_before=entry.integer("legacy_before", minimum=0),
        usage_files=tuple(_usage_files(entry)),
        entitled_by=tuple(entry.texts("entitled_by")),
    )


def _executables(entry: _Reader) -> list[str]:
    executables = entry.texts("executables")
    where = entry.at("executables")
    if not executables:
        raise CatalogError(f"{where}: needs at least one file name")
    for index, executable in enumerate(executables):
        if executable != _file_name(executable):
            raise CatalogError(
                f"{where}[{index}]: {executable!r} must be a lower-case file "
                f"name without folders or quotes, such as 'acad.exe'"
            )
    return executables


def _codes(entry: _Reader) -> tuple[str | None, frozenset[str]]:
    """The product code (None for a base application) and every code,
    aliases included, that chooses the application, in upper case."""
    value = entry.required("product_code")
    where = entry.at("product_code")
    product_code = None if value is None else _code(value, where)
    aliases = entry.texts("product_code_aliases", optional=True)
    where = entry.at("product_code_aliases")
    codes = {_code(alias, f"{where}[{index}]") for index, alias in enumerate(aliases)}
    if product_code:
        codes.add(product_code)
    return product_code, frozenset(codes)


def _code(value: object, where: str) -> str:
    if not isinstance(value, str) or not _CODE.fullmatch(value):
        raise CatalogError(f'{where}: needs a product code such as "C3D", got {_show(value)}')
    return value.upper()


def _scheme(entry: _Reader, schemes: dict[str, _ReleaseNumbers]) -> _ReleaseNumbers | None:
    name = entry.required("release_numbers")
    if name is None:
        return None
    if not isinstance(name, str) or name not in schemes:
        known = ", ".join(sorted(schemes)) or "none"
        raise CatalogError(
            f"{entry.at('release_numbers')}: {_show(name)} names no scheme in "
            f"release_numbers (known: {known}); use null for none"
        )
    return schemes[name]


def _usage_files(entry: _Reader) -> list[str]:
    patterns = entry.texts("usage_files")
    for index, pattern in enumerate(patterns):
        where = f"{entry.at('usage_files')}[{index}]"
        unknown = set(_PLACEHOLDER.findall(pattern)) - set(PLACEHOLDERS)
        if unknown:
            known = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
            raise CatalogError(
                f"{where}: unknown placeholder {{{min(unknown)}}} in "
                f"{pattern!r}; the known ones are {known}"
            )
        rest = _PLACEHOLDER.sub("", pattern)
        if "{" in rest or "}" in rest:
            raise CatalogError(f"{where}: unmatched brace in {pattern!r}")
    return patterns


def _check_unique(applications: list[_Application]) -> None:
    """Each name once; each executable, product code and folder together
    choose one application; and every shared executable has a base
    application, run when no code (or an unknown one) is given."""
    names: set[str] = set()
    owners: dict[tuple[str, str | None, str | None], int] = {}
    for index, application in enumerate(applications):
        where = f"applications[{index}]"
        if application.name in names:
            raise CatalogError(f"{where}.name: {application.name!r} appears twice")
        names.add(application.name)
        for claim in _claims(application):
            if claim in owners:
                executable, code, folder = claim
                raise CatalogError(
                    f"{where}.product_code: {executable} with product code "
                    f"{code!r} and folder {folder!r} already chooses "
                    f"applications[{owners[claim]}]"
                )
            owners[claim] = index
    _check_bases(applications)


def _claims(
    application: _Application,
) -> list[tuple[str, str | None, str | None]]:
    # A base application also claims "no code".
    codes: list[str | None] = [*sorted(application.codes)]
    if application.product_code is None:
        codes.append(None)
    folder = application.folder.pattern if application.folder else None
    return [(executable, code, folder) for executable in application.executables for code in codes]


def _check_bases(applications: list[_Application]) -> None:
    with_base = {
        executable
        for application in applications
        if application.product_code is None
        for executable in application.executables
    }
    for index, application in enumerate(applications):
        for executable in application.executables:
            if executable not in with_base:
                raise CatalogError(
                    f"applications[{index}].product_code: no application "
                    f"runs {executable} without a product code; add one "
                    f"with product_code null"
                )


def _compile(source: str, where: str, *, one_group: bool) -> re.Pattern[str]:
    try:
        pattern = re.compile(source, re.IGNORECASE)
    except re.error as error:
        raise CatalogError(
            f"{where}: {source!r} is not a valid regular expression: {error}"
        ) from None
    if one_group and pattern.groups != 1:
        raise CatalogError(
            f"{where}: {source!r} needs exactly one group, capturing the "
            f"number, but has {pattern.groups}"
        )
    return pattern


def _mapping(value: object, where: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise CatalogError(f"{where}: needs a JSON object, got {_show(value)}")
    return {str(key): item for key, item in value.items() if not str(key).startswith("_")}


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CatalogError(f"{where}: needs a non-empty string, got {_show(value)}")
    return value


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _show(value: object) -> str:
    shown = json.dumps(value, ensure_ascii=False, default=repr)
    if len(shown) > _MAX_SHOWN:
        return shown[: _MAX_SHOWN - 1] + "…"
    return shown
