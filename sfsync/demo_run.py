"""``sfsync demo``: broker, central, simulated plant and edge as child processes on one box.

Order of start: broker -> fault proxy (in this process) -> central (migrate, load master data,
issue a token, serve) -> simulator -> edge -> work orders dispatched. Each step waits for the
previous one by polling with a timeout. Order of stop is the reverse of the data flow's
dependencies: edge (drains its last window), simulator, central, broker.

The data directory holds a marker file; ``--fresh`` deletes only a directory that has it.
"""

from __future__ import annotations

import logging
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Literal, TextIO

import httpx

from sfsync.broker import BrokerError, BrokerProcess, free_port, wait_port
from sfsync.demo_configs import (
    EDGE,
    MACHINES,
    PLANT,
    DemoPaths,
    DemoPorts,
    dispatch_plan,
    manual_components,
    master_data_path,
    write_configs,
)
from sfsync.demo_control import ControlServer, LinkControl
from sfsync.demo_procs import ChildProcess, DemoError, log_tail, sfsync_argv, wait_http, wait_ready
from sfsync.demo_view import DemoReader, render_line, render_screen
from sfsync.proxy import TcpProxy

log = logging.getLogger(__name__)

__all__ = ["DemoOptions", "Demo", "run_demo", "MARKER"]

MARKER = ".sfsync-demo"
START_TIMEOUT = 90.0
Mode = Literal["fresh", "resume", "auto"]


@dataclass
class DemoOptions:
    data_dir: Path = Path("demo-data")
    duration: float | None = None
    mode: Mode = "auto"
    broker: Literal["amqtt", "mosquitto"] = "amqtt"
    speed: float = 1.0
    seed: int = 42
    refresh_s: float = 1.0
    order_qty: int = 1_000
    sim_run_for_s: float | None = None  # tests: production stops after this much simulated time
    master_data: bool = True  # False (tests of the event path): no master data, no work orders


@dataclass
class Demo:
    opts: DemoOptions
    out: TextIO = field(default_factory=lambda: sys.stdout)

    def __post_init__(self) -> None:
        self.paths = DemoPaths(self.opts.data_dir.resolve())
        self.children: dict[str, ChildProcess] = {}
        self.broker: BrokerProcess | None = None
        self.proxy: TcpProxy | None = None
        self.link: LinkControl | None = None
        self.control: ControlServer | None = None
        self.api = ""
        self.token = ""
        self.edge_status = ""
        self.header: list[str] = []
        self._stop = threading.Event()

    # ------------------------------------------------------------------ helpers

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def prepare_dir(self) -> str:
        """Create or reuse the data directory; returns ``fresh`` or ``resume``."""
        root = self.paths.root
        used = root.exists() and any(root.iterdir())
        if used and not (root / MARKER).exists():
            raise DemoError(f"{root} exists and is not a demo data directory; choose another with --data-dir")
        mode = self.opts.mode
        if mode == "auto":
            mode = "resume" if used else "fresh"
        if mode == "fresh" and used:
            shutil.rmtree(root)
        elif mode == "resume" and not used:
            mode = "fresh"
        root.mkdir(parents=True, exist_ok=True)
        (root / MARKER).write_text("shopfloor-sync demo data; `sfsync demo --fresh` deletes this directory\n")
        self.paths.make()
        return mode

    def _run_once(self, name: str, *args: str, timeout: float = 120.0) -> str:
        """Run an ``sfsync`` command to completion, its output appended to logs/setup.log."""
        logfile = self.paths.logs / "setup.log"
        proc = subprocess.run(sfsync_argv(*args), capture_output=True, text=True, timeout=timeout)
        with logfile.open("a") as fh:
            fh.write(f"--- {name}: {' '.join(args)} (status {proc.returncode})\n{proc.stdout}{proc.stderr}")
        if proc.returncode != 0:
            raise DemoError(f"{name} failed (status {proc.returncode}); see {logfile}:\n{proc.stderr[-1500:]}")
        return proc.stdout

    def _child(self, name: str, *args: str) -> ChildProcess:
        child = ChildProcess(name, sfsync_argv(*args), self.paths.logs / f"{name}.log")
        self.children[name] = child
        child.start()
        return child

    # ------------------------------------------------------------------ start

    def start(self) -> None:
        mode = self.prepare_dir()
        ports = DemoPorts(*(free_port() for _ in range(6)))
        cfg = write_configs(
            ports, self.paths, self.opts.speed, self.opts.seed, self.opts.sim_run_for_s, self.opts.master_data
        )
        self.say(f"sfsync demo: {'starting clean' if mode == 'fresh' else 'resuming'} in {self.paths.root}")

        self.broker = BrokerProcess(workdir=self.paths.broker, port=ports.broker, kind=self.opts.broker)
        self.broker.start(timeout=30)
        self.proxy = TcpProxy("127.0.0.1", ports.broker, listen_port=ports.proxy).start()
        self.link = LinkControl(self.proxy)
        self.control = ControlServer(self.link, self.paths.root)
        self.control.start()

        central_cfg = str(cfg["central"])
        self._run_once("migrate", "central", "migrate", "--config", central_cfg)
        if self.opts.master_data:
            self._run_once("load", "central", "load", str(master_data_path()), "--config", central_cfg)
        central = self._child("central", "central", "serve", "--config", central_cfg)
        self.api = f"http://127.0.0.1:{ports.api}"
        wait_http(f"{self.api}/api/v1/health", START_TIMEOUT, [central])
        self.token = self._issue_token(central_cfg)
        if not self.opts.master_data:
            self._register_edge()

        sim = self._child("sim", "sim", "--config", str(cfg["sim"]), "--truth", str(self.paths.truth))
        wait_ready(
            "simulated PLCs",
            lambda: wait_port("127.0.0.1", ports.opcua, 0.2) and wait_port("127.0.0.1", ports.modbus, 0.2),
            START_TIMEOUT,
            [sim],
        )
        edge = self._child("edge", "edge", "run", "--config", str(cfg["edge"]))
        self.edge_status = f"http://127.0.0.1:{ports.edge_status}"
        wait_http(f"{self.edge_status}/health", START_TIMEOUT, [edge])
        if self.opts.master_data:
            self.dispatch()

        self.header = [
            f"sfsync demo   API {self.api}/api/v1   OpenAPI {self.api}/docs",
            f"admin token   {self.token}",
            f"console       {self.console_link()}   (signs the demo admin in)",
            f"try           sfsync demo cut --seconds 20 --data-dir {self.paths.root}"
            "   (cuts the edge off the broker: watch the backlog grow and drain)",
        ]
        self.say(f"sfsync demo: API at {self.api}/api/v1")
        self.say(f"sfsync demo: OpenAPI at {self.api}/docs")
        self.say(f"sfsync demo: admin token: {self.token}")
        self.say(f"sfsync demo: console at {self.api}/console/ ; sign in at once: {self.console_link()}")
        self.say(f"sfsync demo: edge status at {self.edge_status}/metrics")
        self.say(f"sfsync demo: cut the edge off the broker: sfsync demo cut --seconds 20 --data-dir {self.paths.root}")

    def console_link(self) -> str:
        """The console's sign-in page with the token in the fragment: the browser never sends a
        fragment to the server (no log holds it); the page fills the form from it and signs in."""
        return f"{self.api}/console/sign-in#token={self.token}"

    def _issue_token(self, central_cfg: str) -> str:
        """A fresh admin token for this run (the serve log's bootstrap token only exists on a first start)."""
        out = self._run_once(
            "token", "central", "token", "--user", "demo-admin", "--role", "admin", "--config", central_cfg
        )
        lines = [line.strip() for line in out.splitlines() if line.strip()]
        if not lines:
            raise DemoError(f"`sfsync central token` printed no token; see {self.paths.logs / 'setup.log'}")
        return lines[-1].split()[-1]

    def _register_edge(self) -> None:
        """Without master data the edge is registered through the API (ingest requires registration)."""
        resp = httpx.post(
            f"{self.api}/api/v1/edges",
            json={"id": EDGE, "plant": PLANT},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30.0,
        )
        if resp.status_code != 409:  # already registered on --resume
            self._check(resp, f"register edge {EDGE}")

    def dispatch(self) -> None:
        """Create, release and start one work order per machine (skipping machines already running one)."""
        headers = {"Authorization": f"Bearer {self.token}"}
        base = f"{self.api}/api/v1"
        with httpx.Client(headers=headers, timeout=30.0) as http:
            listing = http.get(f"{base}/work-orders")
            listing.raise_for_status()
            body = listing.json()
            orders = body if isinstance(body, list) else body.get("items", body.get("work_orders", []))
            busy = {wo.get("machine") for wo in orders if wo.get("status") in ("running", "started")}
            for machine, item in dispatch_plan(master_data_path()):
                if machine in busy:
                    log.info("%s already runs a work order; not dispatching another", machine)
                    continue
                created = http.post(f"{base}/work-orders", json={"item": item, "qty": str(self.opts.order_qty)})
                self._check(created, f"create a work order for {item}")
                wo_id = created.json()["id"]
                self._check(http.post(f"{base}/work-orders/{wo_id}/release"), f"release {wo_id}")
                self._issue_material(http, base, wo_id, item)
                self._check(http.post(f"{base}/work-orders/{wo_id}/start", json={"machine": machine}), f"start {wo_id}")
                log.info("work order %s (%s) started on %s", wo_id, item, machine)

    def _issue_material(self, http: httpx.Client, base: str, wo_id: str, item: str) -> None:
        """Receive (at standard price) and issue the order's hand-issued components for its whole quantity."""
        for component, per_unit, std_cost in manual_components(master_data_path(), item):
            qty = per_unit * self.opts.order_qty
            receipt = {"item": component, "qty": str(qty), "unit_price": str(std_cost), "ref": f"demo-{wo_id}"}
            self._check(http.post(f"{base}/goods-receipts", json=receipt), f"receive {qty} {component}")
            issue = {"item": component, "qty": str(qty)}
            self._check(http.post(f"{base}/work-orders/{wo_id}/material-issues", json=issue), f"issue {component}")

    @staticmethod
    def _check(resp: httpx.Response, what: str) -> None:
        if not resp.is_success:
            raise DemoError(f"could not {what}: HTTP {resp.status_code}: {resp.text[:500]}")

    # ------------------------------------------------------------------ run and stop

    def view(self) -> None:
        """Refresh the view every ``refresh_s`` until the duration passes, Ctrl-C or SIGTERM."""
        reader = DemoReader(self.api, self.token, self.edge_status, list(MACHINES))
        tty = self.out.isatty()
        started = time.monotonic()
        try:
            while not self._stop.is_set():
                elapsed = time.monotonic() - started
                for child in self.children.values():
                    child.check_alive()
                snap = reader.collect()
                snap.link = self.link.state if self.link else "up"
                text = render_screen(snap, elapsed, self.header) if tty else render_line(snap, elapsed)
                self.out.write(text if tty else text + "\n")
                self.out.flush()
                if self.opts.duration is not None and elapsed >= self.opts.duration:
                    break
                self._stop.wait(self.opts.refresh_s)
        finally:
            reader.close()

    def request_stop(self, signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping the demo", signum)
        self._stop.set()

    def stop(self) -> list[str]:
        """Stop everything in order; returns problems seen while stopping (empty when clean)."""
        problems: list[str] = []
        for name in ("edge", "sim", "central"):
            child = self.children.get(name)
            if child is None:
                continue
            was_alive = child.alive
            status = child.stop(timeout=20.0)
            if was_alive and status not in (0, -signal.SIGTERM, 128 + signal.SIGTERM):
                tail = log_tail(child.logfile, 600)
                problems.append(f"{name} exited with status {status} (log {child.logfile}):\n{tail}")
        if self.control is not None:
            self.control.stop()
        if self.proxy is not None:
            self.proxy.stop()
        if self.broker is not None:
            self.broker.stop()
        return problems

    def where(self) -> None:
        self.say(f"sfsync demo: stopped. Data in {self.paths.root}:")
        self.say(f"  central database  {self.paths.central_db}")
        self.say(f"  edge outbox       {self.paths.outbox}")
        self.say(f"  simulator truth   {self.paths.truth}")
        self.say(f"  configs           {self.paths.config}")
        self.say(f"  logs              {self.paths.logs} (broker: {self.paths.broker})")
        self.say("  run `sfsync demo --resume` to continue with this data, `sfsync demo --fresh` to start clean")


def run_demo(opts: DemoOptions, out: TextIO | None = None) -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would drown the view
    demo = Demo(opts, out or sys.stdout)
    previous = signal.signal(signal.SIGTERM, demo.request_stop)
    code = 0
    try:
        demo.start()
        demo.view()
    except KeyboardInterrupt:
        demo.say("\nsfsync demo: Ctrl-C, stopping")
    except (DemoError, BrokerError, OSError, ValueError, httpx.HTTPError, subprocess.SubprocessError) as exc:
        print(f"sfsync demo: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        try:
            problems = demo.stop()
        except KeyboardInterrupt:
            problems = ["interrupted while stopping; some processes may have been killed"]
        signal.signal(signal.SIGTERM, previous)
    for problem in problems:
        print(f"sfsync demo: {problem}", file=sys.stderr, flush=True)
    demo.where()
    return code or (1 if problems else 0)
