"""The shaped link of :mod:`benchmarks.link` (the commands only: shaping needs a network namespace)."""

from __future__ import annotations

from benchmarks.link import shaping_commands


def test_the_link_is_shaped_in_each_direction_by_the_server_ports() -> None:
    commands = [" ".join(command) for command in shaping_commands([8000, 8001])]
    assert commands[0] == "ip link set lo up"
    assert "htb default 20" in commands[1]  # unmatched packets (client -> server): class 1:20
    assert sum("rate 1gbit ceil 1gbit" in command for command in commands) == 2
    assert [command.split("sport ")[1] for command in commands if "sport" in command] == [
        "8000 0xffff flowid 1:10",
        "8001 0xffff flowid 1:10",
    ]
