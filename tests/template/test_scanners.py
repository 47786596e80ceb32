"""The translated template passes cfn-lint with the serverless rules and checkov (framework cloudformation).
What they flag and does not apply here is named below with the reason, and in docs/deploy.md."""

import json
import subprocess
from pathlib import Path

from tests.template.conftest import LINT_GROUP, ROOT

CHECKOV = ROOT / ".venv" / "checkov" / "bin" / "checkov"
CHECKOV_NOT_APPLICABLE = {
    "CKV_AWS_115": "no reserved concurrency: the API stage throttles, queue consumers have MaximumConcurrency",
    "CKV_AWS_116": "a function DLQ catches async invokes only; ours are API calls and event source mappings",
    "CKV_AWS_117": "no VPC: every dependency is an AWS API reached with IAM; a VPC adds NAT cost and cold start",
    "CKV_AWS_119": "tables use DynamoDB encryption at rest with the AWS key; a customer key is an operator choice",
    "CKV_AWS_120": "no API cache: answers are per tenant and change on every write; streams cannot be cached",
    "CKV_AWS_158": "log groups use CloudWatch's encryption; no secrets are logged",
    "CKV_AWS_173": "environment variables hold resource and parameter names only; secrets are in Parameter Store",
    "CKV_AWS_27": "queues use SQS-managed encryption (SqsManagedSseEnabled); checkov asks for a KMS key",
}


def dead_letter_queues(translated) -> set[str]:
    """Queues that receive what others could not process (they need no redrive policy of their own)."""
    text = json.dumps(translated["Resources"])
    return {name for name in translated["Resources"] if f'["{name}", "Arn"]' in text and "DeadLetter" in name}


@LINT_GROUP
def test_serverless_rules_pass(translated, lint_matches):
    resources = translated["Resources"]
    shared_group = resources["FunctionLogGroup"]["Properties"]

    def applies(match) -> bool:
        resource = match.path[1] if len(match.path) > 1 else ""
        if match.rule.id == "ES1001":  # SQS sources retry through the queue's redrive policy, not a destination
            source = resources[resource]["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]
            return resources[source]["Type"] != "AWS::SQS::Queue"
        if match.rule.id == "ES6000":  # a dead-letter queue is the end of a redrive chain
            return resource not in dead_letter_queues(translated)
        if match.rule.id == "WS1004":  # every function logs to the one group with a retention
            logging = resources[resource]["Properties"]["LoggingConfig"]
            return logging["LogGroup"] != {"Ref": "FunctionLogGroup"} or not shared_group["RetentionInDays"]
        return True

    assert [str(match) for match in lint_matches if applies(match)] == []


def test_checkov_passes(translated, tmp_path: Path):
    assert CHECKOV.exists(), "make test installs checkov in .venv/checkov (its pins clash with the project's)"
    path = tmp_path / "translated.json"
    path.write_text(json.dumps(translated))
    result = subprocess.run(
        [str(CHECKOV), "-f", str(path), "--framework", "cloudformation", "--quiet", "--compact", "-o", "json"]
        + ["--skip-check", ",".join(CHECKOV_NOT_APPLICABLE)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AWS_DEFAULT_REGION": "us-east-1"},
    )
    report = json.loads(result.stdout or "{}")
    failed = report.get("results", {}).get("failed_checks", []) if report else []

    assert [(f["check_id"], f["resource"]) for f in failed] == []
    assert report.get("summary", {}).get("passed", 0) > 100, result.stderr[-2000:]
