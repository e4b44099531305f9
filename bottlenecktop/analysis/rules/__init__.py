"""One rule per resource (the USE method): each judges one frame, the window machinery makes it sustained."""

from bottlenecktop.analysis.rules.base import Rule
from bottlenecktop.analysis.rules.cpu import CPU, CPU_THREAD
from bottlenecktop.analysis.rules.disk import DISK
from bottlenecktop.analysis.rules.driver import LOAD_DRIVER
from bottlenecktop.analysis.rules.fds import FDS
from bottlenecktop.analysis.rules.memory import MEMORY
from bottlenecktop.analysis.rules.network import ACCEPT_QUEUE, NETWORK
from bottlenecktop.analysis.rules.quota import CPU_QUOTA
from bottlenecktop.analysis.rules.waits import DOWNSTREAM, LOCK

RULES: tuple[Rule, ...] = (CPU_QUOTA, CPU, CPU_THREAD, MEMORY, DISK, NETWORK, ACCEPT_QUEUE, FDS, LOCK, DOWNSTREAM,
                           LOAD_DRIVER)

__all__ = ["RULES", "Rule"]
