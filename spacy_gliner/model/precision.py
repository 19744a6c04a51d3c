"""Precision modes (``mixed_precision``): their names, and which one suits this CPU.

Free of torch imports at module level: the architectures check the names when a pipeline is
built, and the factory module is imported by every ``spacy.blank``.
"""

import functools
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import FrozenSet, Optional, Union

PRECISIONS = ("fp16", "bf16", "int8")  # besides float32 (false); true is "fp16"
COPY_PRECISIONS = ("bf16", "int8")  # predicted by a reduced-precision copy (network.reduced_precision_copy)
MixedPrecision = Union[bool, str]


def normalize(mixed_precision: object) -> MixedPrecision:
    """``False`` (float32) or one of ``PRECISIONS``: ``True`` means "fp16" (thinc's name for it)."""
    if mixed_precision is True:
        return "fp16"
    if mixed_precision is False or (isinstance(mixed_precision, str) and mixed_precision in PRECISIONS):
        return mixed_precision
    names = ", ".join(repr(p) for p in PRECISIONS)
    raise ValueError(
        f"mixed_precision must be false (float32), true (= 'fp16') or one of {names}, got {mixed_precision!r}."
    )


@dataclass(frozen=True)
class CPU:
    """What decides the fastest mode on a CPU: native bf16 (AMX, or AVX-512 BF16) or not."""

    name: str
    capability: str  # torch's kernels: "AVX2", "AVX512", ... (ATEN_CPU_CAPABILITY lowers it)
    flags: FrozenSet[str]  # from /proc/cpuinfo (Linux); empty elsewhere

    @property
    def amx(self) -> bool:
        return "amx_bf16" in self.flags

    @property
    def native_bf16(self) -> bool:
        return self.amx or "avx512_bf16" in self.flags

    def describe(self) -> str:
        flags = [f for f in ("amx_bf16", "avx512_bf16", "avx512f", "avx2") if f in self.flags]
        return f"{self.name} (torch kernels {self.capability}; {', '.join(flags) or 'flags unknown'})"


@functools.lru_cache(maxsize=None)
def this_cpu() -> CPU:
    import torch

    name, flags = platform.processor() or platform.machine(), frozenset()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(encoding="utf8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                name = value.strip()
            elif key.strip() == "flags":
                flags = frozenset(value.split())
                break
    return CPU(name, torch.backends.cpu.get_cpu_capability(), flags)


def advice(cpu: CPU) -> str:
    """Which mode to use for inference on ``cpu``, as measured (docs/benchmarks.md, "Precision modes")."""
    if cpu.native_bf16:
        return (
            "use 'bf16' (native bf16: 1.7-2.1x float32, the entities of float32 on >= 99.5% of texts; int8 gains only"
            " 1.1-1.2x)"
        )
    return (
        "use float32 (no native bf16: 'bf16' is emulated, 3-6x slower; 'int8' is 0.8-1.6x float32 and changes ~7% of"
        " texts' entities)"
    )


def poor_fit(precision: MixedPrecision, cpu: CPU) -> Optional[str]:
    """Why ``precision`` is a poor choice for inference on ``cpu`` (None when it is not)."""
    if precision == "bf16" and not cpu.native_bf16:
        return (
            f"mixed_precision 'bf16' on {cpu.describe()}: this CPU has no native bf16 (AMX or AVX-512 BF16), so bf16 is"
            " emulated, 3-6x slower than float32. Use false (float32) here; 'bf16' is for CUDA and CPUs with native"
            " bf16."
        )
    if precision == "int8" and cpu.native_bf16:
        return (
            f"mixed_precision 'int8' on {cpu.describe()}: this CPU has native bf16, where 'bf16' is 1.7-2.1x float32 "
            "and changes fewer entities than int8 (1.1-1.2x float32 here)."
        )
    return None
