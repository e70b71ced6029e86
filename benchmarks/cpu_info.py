"""The CPU a benchmark ran on, as its printed figures name it (from Linux's /proc/cpuinfo)."""

import platform


def cpuinfo_fields() -> dict[str, str]:
    """The first processor's fields in /proc/cpuinfo; empty where the file does not exist."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def cpu_line() -> str:
    """Model name, family and model: in a guest, AMD's Zen generations share one model name."""
    fields = cpuinfo_fields()
    if "model name" not in fields:
        return platform.processor() or "unknown CPU"
    return f"{fields['model name']} (family {fields.get('cpu family', '?')}, model {fields.get('model', '?')})"
