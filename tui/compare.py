"""What two runs differ in, for the compare screen: the engine's comparison (bottlenecktop.compare) as table rows."""

from __future__ import annotations

from bottlenecktop.compare import compare_rows, compare_sessions
from bottlenecktop.recording import Recording
from bottlenecktop.session import Session


def _as_recording(session: Session) -> Recording:
    return Recording(header=session.header, frames=session.snapshot(), verdict=session.verdict)


def differences(a: Session, b: Session) -> list[tuple[str, str, str, str]]:
    """Rows of (what, run A, run B, B against A), then the functions whose stack share changed most."""
    cmp = compare_sessions(_as_recording(a), _as_recording(b))
    rows = compare_rows(cmp)
    for change in cmp["stack_changes"][:5]:
        rows.append((f"  {change['function']}", f"{change['a']:.1f} %", f"{change['b']:.1f} %",
                     f"{change['delta']:+.1f} %"))
    return rows
