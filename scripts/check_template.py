#!/usr/bin/env python3
"""Translate template.yaml as `sam deploy` would and lint the result.

scripts/check-template.sh runs this (after checking the pip packages are
there). Steps:

1. Load template.yaml with cfn-lint's YAML loader (short-form intrinsics
   become their long form).
2. Package it as `sam package` would: CodeUri "." becomes an S3 URI, and
   each state machine's DefinitionUri file is inlined as a Definition
   object.
3. Translate it with AWS's SAM translator (samtranslator.transform), the
   code CloudFormation's AWS::Serverless transform runs.
4. In the translated template, give each AWS::StepFunctions::StateMachine
   its ASL as a Definition object (the translator writes a Fn::Join
   string, which cfn-lint's ASL rule E3601 does not read), keeping
   DefinitionSubstitutions.
5. Run cfn-lint on it; any error (E) or warning (W) fails. Informational
   findings are counted and listed only with --verbose.

Usage: check_template.py [--template template.yaml] [--out translated.json] [--verbose]
Exit status: 0 clean, 1 findings, 2 the template does not translate.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from cfnlint.decode import cfn_yaml  # noqa: E402
from samtranslator.model.exceptions import InvalidDocumentException  # noqa: E402
from samtranslator.translator.transform import transform  # noqa: E402

PACKAGED_CODE = "s3://sam-package-bucket/scentmatch/code.zip"


class NoManagedPolicies:
    """The translator asks IAM for AWS managed policy ARNs only when a
    Policies entry names one; the template names none, so no call."""

    def load(self):
        return {}


def package(tpl, base):
    """Does to tpl what `sam package` does: code to S3, ASL inlined."""
    glob = tpl.get("Globals", {}).get("Function", {})
    if "CodeUri" in glob:
        glob["CodeUri"] = PACKAGED_CODE
    definitions = {}
    for rid, res in tpl.get("Resources", {}).items():
        props = res.get("Properties", {})
        if res.get("Type") == "AWS::Serverless::Function" and "CodeUri" in props:
            props["CodeUri"] = PACKAGED_CODE
        if res.get("Type") == "AWS::Serverless::StateMachine" and "DefinitionUri" in props:
            path = os.path.join(base, props.pop("DefinitionUri"))
            with open(path, encoding="utf-8") as f:
                props["Definition"] = json.load(f)
            definitions[rid] = props["Definition"]
    return definitions


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--template", default="template.yaml")
    ap.add_argument("--out", default="", help="where to write the translated template (default: a temporary file)")
    ap.add_argument("--verbose", action="store_true", help="also list informational findings")
    args = ap.parse_args()

    tpl = json.loads(json.dumps(cfn_yaml.load(args.template)))
    definitions = package(tpl, os.path.dirname(os.path.abspath(args.template)))
    try:
        out = transform(tpl, {}, NoManagedPolicies())
    except InvalidDocumentException as e:
        print(f"{args.template}: the SAM translator refuses it:", file=sys.stderr)
        for cause in e.causes:
            print(f"  {cause.message}", file=sys.stderr)
        return 2

    machines = 0
    for rid, res in out["Resources"].items():
        if res["Type"] != "AWS::StepFunctions::StateMachine":
            continue
        if rid not in definitions:
            print(f"{rid}: a translated state machine with no definition file", file=sys.stderr)
            return 2
        props = res["Properties"]
        props.pop("DefinitionString", None)
        props.pop("DefinitionS3Location", None)
        props["Definition"] = definitions[rid]
        machines += 1

    path = args.out
    if not path:
        fd, path = tempfile.mkstemp(prefix="scentmatch-translated-", suffix=".json")
        os.close(fd)
    try:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=1, sort_keys=True)
        kinds = {}
        for res in out["Resources"].values():
            kinds[res["Type"]] = kinds.get(res["Type"], 0) + 1
        print(
            f"{args.template}: translated to {len(out['Resources'])} resources "
            f"({kinds.get('AWS::Lambda::Function', 0)} functions, {machines} state machines with their ASL as Definition)",
            file=sys.stderr,
        )
        lint = subprocess.run(
            [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())", "--format", "parseable", "--include-checks", "I", "--", path],
            capture_output=True,
            text=True,
        )
        if lint.returncode != 0 and not lint.stdout.strip():
            print(f"cfn-lint failed to run (exit {lint.returncode}):\n{lint.stderr}", file=sys.stderr)
            return 2
        findings = [l for l in lint.stdout.splitlines() if l.strip()]
        # parseable: file:line:col:endline:endcol:RULE:message
        bad = [l for l in findings if l.split(":")[5][:1] in ("E", "W")]
        info = [l for l in findings if l.split(":")[5][:1] == "I"]
        if args.verbose:
            for l in info:
                print(f"  info {l}", file=sys.stderr)
        if bad:
            print(f"cfn-lint: {len(bad)} error/warning finding(s) on the translated template ({path}):", file=sys.stderr)
            for l in bad:
                print(f"  {l}", file=sys.stderr)
            return 1
        print(f"cfn-lint: no errors or warnings ({len(info)} informational)", file=sys.stderr)
        return 0
    finally:
        if not args.out:
            os.remove(path)


if __name__ == "__main__":
    sys.exit(main())
