"""The data file's checks, the generator and the emulator commands."""

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from autodesk_examples import REVIT, example_data
from serverproc import run_seatmeter

from seatmeter.emulator import DataFileError, generate_team, parse_data
from seatmeter.emulator.problems import request_id_for


def broken(change: Any) -> dict[str, Any]:
    data = example_data()
    change(data)
    return data


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda d: d["teams"][0]["users"][3].pop("id"), "teams[0].users[3].id"),
        (lambda d: d["teams"][0]["users"][2].update(email="nope"), "teams[0].users[2].email"),
        (lambda d: d["teams"][0]["pools"][1].update(endDate="soon"), "teams[0].pools[1].endDate"),
        (lambda d: d["teams"][0]["pools"][0].update(totalQuantity=-1), "teams[0].pools[0]"),
        (lambda d: d["teams"][0]["pools"][0].update(seats=3), "teams[0].pools[0].seats"),
        (
            lambda d: d["teams"][0]["assignments"][0].update(assignmentType="LEGACY"),
            "teams[0].assignments[0].assignmentType",
        ),
        (
            lambda d: d["teams"][0]["assignments"][0].update(userId="US404"),
            "teams[0].assignments[0].userId",
        ),
        (
            lambda d: d["teams"][0]["assignments"][0].update(productId="prod_x"),
            "teams[0].assignments[0].productId",
        ),
        (
            lambda d: d["teams"][0]["pools"][0].update(unlimited=False, totalQuantity=None),
            "teams[0].pools[0].totalQuantity",
        ),
        (lambda d: d["teams"][0]["users"].append(d["teams"][0]["users"][0]), "teams[0].users"),
        (lambda d: d.update(clients=[]), "clients"),
    ],
)
def test_a_bad_data_file_names_the_field(change: Any, path: str) -> None:
    with pytest.raises(DataFileError) as caught:
        parse_data(broken(change))
    assert path in str(caught.value)


def test_the_example_data_is_valid() -> None:
    team = parse_data(example_data()).teams[0]
    assert team.pools[0].productId == REVIT


@pytest.mark.slow
def test_the_command_refuses_a_bad_data_file_with_its_path(tmp_path: Path) -> None:
    data = broken(lambda d: d["teams"][0]["pools"][0].update(endDate="soon"))
    path = tmp_path / "team.json"
    path.write_text(json.dumps(data))
    done = run_seatmeter("emulator", "autodesk", "--data", str(path), "--port", "0")
    assert done.returncode == 2
    assert "teams[0].pools[0].endDate" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("flags", "named"),
    [(["--fail-rate", "2"], "--fail-rate"), (["--rate-limit", "zero"], "--rate-limit")],
)
def test_the_command_refuses_bad_flags(flags: list[str], named: str) -> None:
    done = run_seatmeter("emulator", "autodesk", *flags)
    assert done.returncode == 2
    assert named in done.stderr


@pytest.mark.slow
def test_the_command_refuses_a_file_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "team.json"
    path.write_text("{not json")
    done = run_seatmeter("emulator", "autodesk", "--data", str(path))
    assert done.returncode == 2
    assert "not valid JSON at line 1" in done.stderr


def test_generate_team_of_10000_users() -> None:
    data = generate_team(users=10_000, seed=5)
    parse_data(data)  # the generator writes what the emulator accepts
    team = data["teams"][0]
    users = team["users"]
    assert len(users) == 10_000
    assert len({user["id"] for user in users}) == 10_000
    assert len({user["email"].lower() for user in users}) == 10_000
    assert all(user["id"].startswith("US") and user["id"][2:].isdigit() for user in users)

    assigned = {row["userId"] for row in team["assignments"]}
    assert 0.9 * 10_000 <= len(assigned) < 10_000  # most, not all
    held = Counter(row["productId"] for row in team["assignments"])
    over = [
        p for p in team["pools"] if not p["unlimited"] and held[p["productId"]] > p["totalQuantity"]
    ]
    assert over, "some pools are assigned beyond their seats"
    assert all(p["productId"].startswith("prod_") for p in team["pools"])
    names = {pool["productName"] for pool in team["pools"]}
    assert {"Architecture, Engineering & Construction Collection", "AutoCAD", "Revit"} <= names


def test_seats_grow_with_the_team() -> None:
    def seats(users: int) -> int:
        pools = generate_team(users=users, seed=2)["teams"][0]["pools"]
        return sum(pool["totalQuantity"] or 0 for pool in pools)

    assert 8 <= seats(2000) / seats(200) <= 12


def test_the_same_seed_gives_the_same_team() -> None:
    assert generate_team(users=300, seed=9) == generate_team(users=300, seed=9)
    assert generate_team(users=300, seed=9) != generate_team(users=300, seed=10)


@pytest.mark.slow
def test_the_generate_command_writes_a_file(tmp_path: Path) -> None:
    out = tmp_path / "team.json"
    done = run_seatmeter(
        "emulator", "generate", "--users", "120", "--seed", "3", "--out", str(out),
        "--team-id", "777", "--client-id", "c1", "--client-secret", "s1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    assert data == generate_team(
        users=120, seed=3, team_id="777", client_id="c1", client_secret="s1"
    )


@pytest.mark.parametrize(
    ("header", "echoed"),
    [("abc", True), ("  a.b_c-9  ", True), ("x" * 128, True), ("x" * 129, False), ("a b", False)],
)
def test_request_ids_are_trimmed_and_checked(header: str, echoed: bool) -> None:
    answer = request_id_for(header)
    assert (answer == header.strip()) is echoed
