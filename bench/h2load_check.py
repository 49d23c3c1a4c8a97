"""Reads one h2load run's output; prints one JSON line (name, req/s, successes, mean latency) and
fails unless every reply was a full, successful gRPC frame: the DATA bytes must equal the number
of replies times the size of a successful reply (an error comes as a shorter frame), so a fast
error never counts as a success.

    python h2load_check.py <h2load output file> <name> <bytes of one successful reply>
"""
import json
import re
import sys

text = open(sys.argv[1]).read()
name, expected = sys.argv[2], int(sys.argv[3])
rps = float(re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", text).group(1))
succeeded = int(re.search(r"(\d+) succeeded", text).group(1))
data = int(re.search(r"\((\d+)\) data", text).group(1))
mean = re.search(r"time for request:\s+\S+\s+\S+\s+(\S+)", text).group(1)
ok = succeeded > 0 and data == succeeded * expected
print(json.dumps({"name": name, "rps": rps, "succeeded": succeeded, "mean_latency": mean, "all_replies_ok": ok}))
if not ok:
    sys.exit(f"{name}: {data} reply bytes for {succeeded} replies of {expected} bytes: some calls failed")
