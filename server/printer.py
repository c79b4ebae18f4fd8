"""Ticket receipts on an ESC/POS thermal printer (80 mm), via python-escpos.

Configured with BRANCHQ_PRINTER=host[:port] (a network printer, port 9100 by
default); without it the kiosk prints through the browser's print CSS. Chinese
text is sent as GB18030, which Chinese receipt printers take in their default
character mode. Tests use escpos's Dummy printer and inspect the bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

TEXT_ENCODING = "gb18030"


@dataclass(frozen=True)
class Receipt:
    """What a printed ticket says."""

    branch_name: str
    number: str
    service_name: str
    people_ahead: int | None
    wait_text: str  # the estimator's range, "" when there is none
    issued_at: str  # hh:mm, branch time
    status_url: str  # the QR code's target: /t/{branch}/{ticket}
    lang: str = "zh"

    def lines(self) -> dict[str, str]:
        if self.lang == "en":
            ahead = "" if self.people_ahead is None else (
                f"{self.people_ahead} ahead of you" if self.people_ahead else "Nobody ahead of you")
            return {"label": "Your number", "ahead": ahead, "scan": "Scan to follow your place in line",
                    "issued": f"Issued {self.issued_at}"}
        ahead = "" if self.people_ahead is None else (
            f"前面还有 {self.people_ahead} 人" if self.people_ahead else "前面没有人在等候")
        return {"label": "您的号码", "ahead": ahead, "scan": "扫码查看排队进度", "issued": f"取号时间 {self.issued_at}"}


def print_receipt(printer: Any, r: Receipt) -> None:
    """Write one ticket to an escpos printer object (Network, Dummy, ...) and cut."""
    words = r.lines()

    def text(s: str) -> None:
        if s:
            printer._raw((s + "\n").encode(TEXT_ENCODING, errors="replace"))

    printer.set(align="center", normal_textsize=True, bold=True)
    text(r.branch_name)
    printer.set(align="center", normal_textsize=True, bold=False)
    text(words["label"])
    printer.set(align="center", bold=True, custom_size=True, width=4, height=4)
    text(r.number)
    printer.set(align="center", normal_textsize=True, bold=True)
    text(r.service_name)
    printer.set(align="center", normal_textsize=True, bold=False)
    text(words["ahead"])
    printer.set(align="center", bold=True, double_height=True, double_width=False)
    text(r.wait_text)
    printer.set(align="center", normal_textsize=True, bold=False)
    printer.qr(r.status_url, size=6, native=True)  # the printer draws it: sharp on any head
    text(words["scan"])
    text(words["issued"])
    printer.cut()


def network_printer(address: str, timeout: float = 5.0) -> Callable[[], Any]:
    """A factory for the configured network printer ("host" or "host:port")."""
    host, _, port = address.partition(":")

    def connect() -> Any:
        from escpos.printer import Network

        return Network(host, int(port or 9100), timeout=timeout)

    return connect
