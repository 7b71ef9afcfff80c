# Writes N canonical JSONL events (one broken line every 600) for the import benchmark in docs/BENCHMARKS.md:
#   python3 docs/bench/gen_import_jsonl.py 100000 > import100k.jsonl
import json, random, sys
random.seed(7)
n = int(sys.argv[1])
for i in range(n):
    if i % 600 == 599:
        print('{"carrier": "ups", "tracking_number": ')  # a broken line every 600
        continue
    ev = {"source_event_id": f"imp-{i}", "carrier": random.choice(["ups", "fedex", "usps"]),
          "tracking_number": f"IMP{i // 3:09d}", "status": random.choice(["in_transit", "out_for_delivery", "delivered"]),
          "occurred_at": f"2026-11-{1 + i % 25:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
          "location": {"city": "Memphis", "region": "TN", "postal_code": "38118", "country": "US"},
          "order_ref": f"SO{i // 3:06d}"}
    if i % 20 == 0:
        ev["reason"] = "damaged"
    print(json.dumps(ev))
