"""Provision MQTT credentials: a password per gateway, and Mosquitto's password and ACL files.

    manage.py mqtt_credentials set-password gw-2e-11        # prints a new password once
    manage.py mqtt_credentials set-password --all-missing   # for every gateway without one
    manage.py mqtt_credentials write --out /etc/mosquitto/hospital --service ingest=ingest:SECRET

Then reload Mosquitto (``kill -HUP``). A gateway can publish only under its own topics.
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from sensors.models import Gateway
from sensors.mqtt.credentials import (
    GatewayAccount,
    ServiceAccount,
    acl_file,
    hash_password,
    new_password,
    passwd_file,
)


class Command(BaseCommand):
    help = "Set gateway MQTT passwords and write Mosquitto's password and ACL files."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        setp = sub.add_parser("set-password", help="Give gateways a new MQTT password (printed once).")
        setp.add_argument("gateway_ids", nargs="*")
        setp.add_argument("--all-missing", action="store_true", help="Every gateway that has none yet.")
        setp.add_argument("--password", help="Use this password instead of a random one (one gateway only).")
        write = sub.add_parser("write", help="Write passwd and acl files for Mosquitto.")
        write.add_argument("--out", required=True, help="Directory for the passwd and acl files.")
        write.add_argument(
            "--service", action="append", default=[], metavar="ROLE=USER:PASSWORD",
            help="A server account: ingest=USER:PASSWORD or simulator=USER:PASSWORD (repeatable).",
        )

    def handle(self, *args, **options):
        if options["action"] == "set-password":
            self.set_passwords(options)
        else:
            self.write_files(options)

    def set_passwords(self, options):
        gateways = Gateway.objects.all()
        if options["all_missing"]:
            gateways = gateways.filter(mqtt_password_hash="")
        elif options["gateway_ids"]:
            gateways = gateways.filter(gateway_id__in=options["gateway_ids"])
            missing = set(options["gateway_ids"]) - set(gateways.values_list("gateway_id", flat=True))
            if missing:
                raise CommandError(f"unknown gateway(s): {', '.join(sorted(missing))}")
        else:
            raise CommandError("name gateway ids or use --all-missing")
        if options["password"] and gateways.count() != 1:
            raise CommandError("--password sets one gateway's password; name exactly one gateway")
        for gateway in gateways:
            password = options["password"] or new_password()
            gateway.mqtt_password_hash = hash_password(password)
            gateway.save(update_fields=["mqtt_password_hash", "updated_at"])
            self.stdout.write(f"{gateway.gateway_id}\t{password}")

    def write_files(self, options):
        services = []
        for spec in options["service"]:
            try:
                role, credentials = spec.split("=", 1)
                user, password = credentials.split(":", 1)
            except ValueError as exc:
                raise CommandError(f"--service {spec!r}: expected ROLE=USER:PASSWORD") from exc
            if role not in {"ingest", "simulator"}:
                raise CommandError(f"--service {spec!r}: role must be ingest or simulator")
            services.append(ServiceAccount(user, hash_password(password), role))
        accounts = [
            GatewayAccount(g.gateway_id, g.site.code, g.mqtt_password_hash)
            for g in Gateway.objects.select_related("site").filter(enabled=True)
        ]
        out = Path(options["out"])
        out.mkdir(parents=True, exist_ok=True)
        (out / "passwd").write_text(passwd_file(accounts, services))
        (out / "acl").write_text(acl_file(accounts, services, root=settings.MQTT_TOPIC_ROOT))
        (out / "passwd").chmod(0o640)
        with_password = sum(1 for a in accounts if a.password_hash)
        self.stdout.write(
            f"wrote {out / 'passwd'} and {out / 'acl'}: {with_password} gateway(s), {len(services)} service account(s)"
        )
        if with_password < len(accounts):
            self.stdout.write(f"{len(accounts) - with_password} enabled gateway(s) have no password and cannot connect")
