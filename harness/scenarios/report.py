"""Reports of a playback: JSON for tools, JUnit XML for CI dashboards."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.scenarios.runner import ScenarioResult


def json_report(results: list[ScenarioResult]) -> str:
    """Every scenario and step with its outcome, as JSON."""
    return json.dumps(
        {
            "passed": sum(r.passed for r in results),
            "failed": sum(not r.passed for r in results),
            "seconds": round(sum(r.seconds for r in results), 3),
            "scenarios": [
                {
                    "name": r.name,
                    "file": r.file,
                    "passed": r.passed,
                    "seconds": round(r.seconds, 4),
                    "error": r.error or (str(r.failure) if r.failure else None),
                    "steps": [
                        {
                            "index": s.index,
                            "line": s.line,
                            "action": s.action,
                            "status": s.status,
                            "message": s.message,
                        }
                        for s in r.steps
                    ],
                }
                for r in results
            ],
        },
        indent=2,
    )


def junit_report(results: list[ScenarioResult]) -> str:
    """One testcase per scenario, in JUnit XML."""
    suite = ET.Element(
        "testsuite",
        name="harness scenarios",
        tests=str(len(results)),
        failures=str(sum(r.failure is not None for r in results)),
        errors=str(sum(r.error is not None for r in results)),
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    for result in results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=Path(result.file).stem,
            name=result.name,
            file=result.file,
            time=f"{result.seconds:.4f}",
        )
        if result.error is not None:
            ET.SubElement(case, "error", message=result.error).text = result.error
        elif result.failure is not None:
            ET.SubElement(case, "failure", message=str(result.failure)).text = str(result.failure)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)
