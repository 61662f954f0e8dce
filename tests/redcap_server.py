"""A stand-in for a REDCap API on 127.0.0.1, answering from real export files.

Serves ``content=metadata`` (JSON or CSV, API column names) and
``content=record`` (CSV or JSON, ``records[i]`` and ``fields[i]`` filters) for
one token; anything else is a 400 like REDCap's. Bounded: it only answers the
requests a test sends and stops with the test.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pandas as pd

API_COLUMNS = [
    "field_name",
    "form_name",
    "section_header",
    "field_type",
    "field_label",
    "select_choices_or_calculations",
    "field_note",
    "text_validation_type_or_show_slider_number",
    "text_validation_min",
    "text_validation_max",
    "identifier",
    "branching_logic",
    "required_field",
    "custom_alignment",
    "question_number",
    "matrix_group_name",
    "matrix_ranking",
    "field_annotation",
]


class FakeRedcap:
    def __init__(self, project: Path, token: str) -> None:
        self.token = token
        meta = pd.read_csv(project / "dictionary.csv", dtype=str, keep_default_na=False)
        meta.columns = API_COLUMNS[: len(meta.columns)]
        self.metadata = meta
        self.records = pd.read_csv(project / "data.csv", dtype=str, keep_default_na=False)
        self.calls: list[dict[str, list[str]]] = []
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/api/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeRedcap:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _answer(self, form: dict[str, list[str]]) -> tuple[int, str, str]:
        self.calls.append(form)
        one = {k: v[0] for k, v in form.items()}
        if one.get("token") != self.token:
            return 403, "application/json", json.dumps({"error": "You do not have permissions"})
        fmt = one.get("format", "json")
        if one.get("content") == "metadata":
            frame = self.metadata
        elif one.get("content") == "record":
            frame = self.records
            records = [v[0] for k, v in form.items() if k.startswith("records[")]
            fields = [v[0] for k, v in form.items() if k.startswith("fields[")]
            if records:
                frame = frame[frame.iloc[:, 0].isin(records)]
            if fields:
                keep = [c for c in frame.columns if c in fields or c.startswith("redcap_")]
                frame = frame[keep]
        else:
            return 400, "application/json", json.dumps({"error": "unsupported content"})
        if fmt == "csv":
            buffer = io.StringIO()
            frame.to_csv(buffer, index=False, quoting=csv.QUOTE_MINIMAL)
            return 200, "text/csv", buffer.getvalue()
        return 200, "application/json", frame.to_json(orient="records")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length).decode("utf-8")
                status, kind, text = fake._answer(parse_qs(body, keep_blank_values=True))
                data = text.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        return Handler
