"""Drive an Odoo XML-RPC server with CPython's standard xmlrpc.client.

Usage: python3 xmlrpc_probe.py BASE_URL < plan.json

The plan is a JSON list of steps {"name", "service", "method", "params"}.
For each step one JSON line is printed with what xmlrpc.client returned
(or the Fault it raised) and the raw HTTP answer, so the Go test can compare
both the client's view and the bytes with odoo-api.md.
"""
import json
import sys
import xmlrpc.client


class RawTransport(xmlrpc.client.Transport):
    """A Transport that keeps the raw response bytes of the last call."""

    last_raw = b""
    last_status = 0
    last_ctype = ""

    def parse_response(self, response):
        body = response.read()
        self.last_raw = body
        self.last_status = response.status
        self.last_ctype = response.getheader("Content-Type") or ""
        parser, unmarshaller = self.getparser()
        parser.feed(body)
        parser.close()
        return unmarshaller.close()


def main():
    base = sys.argv[1].rstrip("/")
    plan = json.load(sys.stdin)
    for step in plan:
        transport = RawTransport()
        proxy = xmlrpc.client.ServerProxy(
            base + "/xmlrpc/2/" + step["service"], transport=transport
        )
        out = {"name": step["name"]}
        try:
            out["result"] = getattr(proxy, step["method"])(*step["params"])
            out["type"] = type(out["result"]).__name__
        except xmlrpc.client.Fault as fault:
            out["fault_code"] = fault.faultCode
            out["fault_string"] = fault.faultString
        except xmlrpc.client.ProtocolError as err:
            out["protocol_error"] = err.errcode
        out["status"] = transport.last_status
        out["content_type"] = transport.last_ctype
        out["raw"] = transport.last_raw.decode("utf-8")
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
