"""`binwatch models ACTION --service URL`: the model registry from a shell, over HTTP.

  list                              versions, states, canary stations, test accuracy
  compare VERSION [--days N]        a canary beside the active model over the same days
  canary VERSION --station CODE...  run VERSION on these stations (devices follow within a poll)
  promote VERSION                   make VERSION the fleet's model (the active one retires)
  rollback VERSION                  make a retired VERSION active again (the active one retires)

Signs in as `--user` (an engineer; password from BINWATCH_PASSWORD or `--password-stdin`) or
uses `--token`.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

DESCRIPTION = "list, compare, canary, promote and roll back models on the service"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["list", "compare", "canary", "promote", "rollback"])
    p.add_argument("version", nargs="?", help="the model version (all but list)")
    p.add_argument("--service", default=os.environ.get("BINWATCH_SERVICE", "http://127.0.0.1:8000"))
    p.add_argument("--station", action="append", default=[], help="canary station code")
    p.add_argument("--days", type=int, help="compare: the last N days, not since canary")
    p.add_argument("--user", default="engineer")
    p.add_argument("--password-stdin", action="store_true")
    p.add_argument("--token")
    p.epilog = __doc__
    p.formatter_class = argparse.RawDescriptionHelpFormatter


def _client(args: argparse.Namespace) -> Any:
    from binwatch.service_client import signed_in

    return signed_in(args.service, args.user, args.token, args.password_stdin, timeout=60)


def _ok(response: Any) -> Any:
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise SystemExit(f"{response.request.method} {response.request.url.path}: {detail}")
    return response.json()


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _move(client: Any, version: str, state: str, stations: list[str]) -> dict[str, Any]:
    body = {"state": state, "stations": stations}
    result: dict[str, Any] = _ok(client.post(f"/api/v1/models/{version}/state", json=body))
    return result


def run(args: argparse.Namespace) -> int:
    if args.action != "list" and not args.version:
        raise SystemExit(f"binwatch models {args.action} needs a VERSION")
    client = _client(args)
    try:
        if args.action == "list":
            for m in _ok(client.get("/api/v1/models")):
                accuracy = m["metrics"].get("test_category_accuracy")
                stations = ",".join(m["stations"]) or "-"
                print(f"{m['version']}  {m['state']:<9}  stations {stations:<12}  "
                      f"test category accuracy {_pct(accuracy)}")  # fmt: skip
        elif args.action == "compare":
            params = {"days": args.days} if args.days else {}
            r = _ok(client.get(f"/api/v1/models/{args.version}/rollout", params=params))
            print(f"{r['start'][:16]} → {r['end'][:16]}")
            print(f"{'':>18} {r['model']['version']:>22} {r['active']['version']:>22}")
            for key, show in (("events", str), ("flag_rate", _pct), ("reviewed", str),
                              ("overturn_rate", _pct), ("mean_confidence", _pct),
                              ("confidence_p10", _pct)):  # fmt: skip
                print(f"{key:>18} {show(r['model'][key]):>22} {show(r['active'][key]):>22}")
        elif args.action == "canary":
            if not args.station:
                raise SystemExit("a canary needs --station CODE (repeat for several)")
            moved = _move(client, args.version, "canary", args.station)
            print(f"{moved['version']} is canary on {', '.join(moved['stations'])}")
        elif args.action == "promote":
            moved = _move(client, args.version, "active", [])
            print(f"{moved['version']} is active; devices follow at their next model check")
        else:  # the registry keeps no history of which retired model was active, so: by name
            states = {m["version"]: m["state"] for m in _ok(client.get("/api/v1/models"))}
            if states.get(args.version) != "retired":
                raise SystemExit(f"{args.version} is {states.get(args.version, 'unknown')}, "
                                 "not retired (see `binwatch models list`)")  # fmt: skip
            _move(client, args.version, "active", [])
            print(f"rolled back: {args.version} is active again")
    finally:
        client.close()
    return 0
