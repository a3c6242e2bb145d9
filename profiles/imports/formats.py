"""Which export a file is, and which of its columns feed which profile field.

Column names and value conventions, from the vendors' documentation and real exports
(checked 2025-11):
- Mailchimp audience export (a zip of subscribed / unsubscribed / cleaned CSVs; Mailchimp
  help "Export your audience" and "View or export cleaned contacts"): "Email Address",
  "First Name", "Last Name", "Address", "Phone Number", then MEMBER_RATING, OPTIN_TIME,
  OPTIN_IP, CONFIRM_TIME, CONFIRM_IP, LATITUDE, LONGITUDE, GMTOFF, DSTOFF, TIMEZONE, CC,
  REGION, LAST_CHANGED, LEID, EUID, NOTES, TAGS; the unsubscribed file adds UNSUB_TIME,
  UNSUB_CAMPAIGN_TITLE, UNSUB_CAMPAIGN_ID, UNSUB_REASON, UNSUB_REASON_OTHER, the cleaned
  file CLEAN_TIME, CLEAN_CAMPAIGN_TITLE, CLEAN_CAMPAIGN_ID. The status is which file a row
  is in, not a column; times are "YYYY-MM-DD HH:MM:SS" in UTC.
- Shopify customers export (Shopify help "Exporting customers"; customers_export.csv):
  "Customer ID", "First Name", "Last Name", "Email", "Accepts Email Marketing",
  "Default Address Company" ... "Default Address Country Code", "Default Address Zip",
  "Default Address Phone", "Phone", "Accepts SMS Marketing", "Total Spent", "Total Orders",
  "Note", "Tax Exempt", "Tags"; consent values "yes"/"no" ("no" = not subscribed, which is
  not an opt-out), no consent times. Older exports: "Accepts Marketing", "Country Code".
  Phones may carry Excel's leading apostrophe ('+15417543000).
- Klaviyo list/segment export (Klaviyo help "How to export a list or segment to a CSV
  file"): "Email", "Klaviyo ID", "First Name", "Last Name", "Organization", "Title",
  "Phone Number", "Address", "Address 2", "City", "State / Region", "Country" (a name),
  "Zip Code", "Latitude", "Longitude", "Source", "IP Address", "Email Marketing Consent"
  (SUBSCRIBED / UNSUBSCRIBED / NEVER_SUBSCRIBED), "Email Marketing Consent Timestamp",
  "SMS Marketing Consent", "SMS Marketing Consent Timestamp", "Timezone", "Profile Created
  On", "Date Added", "Email Suppressions"; timestamps ISO 8601 in UTC.
"""

import re
from dataclasses import dataclass, field

from profiles.models import ImportFormat

IDENTIFIERS = ("external_id", "email", "phone")
FIELDS = (
    *IDENTIFIERS,
    "first_name",
    "last_name",
    "full_name",
    "time_zone",
    "locale",
    "country",
    "email_consent",
    "email_consent_at",
    "sms_consent",
    "sms_consent_at",
)
IGNORE = "-"
MAX_TRAITS = 1_000  # trait columns a file may map
TRAIT_PREFIX = "traits."


class MappingError(ValueError):
    """The mapping cannot work for this file (unknown column or field, no identifier)."""


def normalise_header(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


# Plain CSV: normalised header -> field. Vendor columns below are exact names.
PLAIN_ALIASES = {
    **dict.fromkeys(["email", "emailaddress", "mail", "emailaddr", "courriel"], "email"),
    **dict.fromkeys(
        ["phone", "phonenumber", "mobile", "mobilenumber", "mobilephone", "cell", "cellphone"]
        + ["telephone", "tel", "smsnumber", "sms", "msisdn"],
        "phone",
    ),
    **dict.fromkeys(["firstname", "first", "givenname", "fname", "forename"], "first_name"),
    **dict.fromkeys(["lastname", "last", "surname", "familyname", "lname"], "last_name"),
    **dict.fromkeys(["name", "fullname"], "full_name"),
    **dict.fromkeys(["externalid", "customerid", "userid", "id", "customernumber"], "external_id"),
    **dict.fromkeys(["timezone", "tz", "zone", "ianatimezone"], "time_zone"),
    **dict.fromkeys(["locale", "language", "lang"], "locale"),
    **dict.fromkeys(["country", "countrycode"], "country"),
    **dict.fromkeys(
        ["emailconsent", "acceptsemailmarketing", "acceptsmarketing", "emailoptin"]
        + ["emailmarketingconsent", "emailsubscribed", "emailsubscription"],
        "email_consent",
    ),
    **dict.fromkeys(
        ["emailconsentat", "emailconsenttimestamp", "emailmarketingconsenttimestamp"]
        + ["emailoptinat", "emailoptintime", "emailconsentdate"],
        "email_consent_at",
    ),
    **dict.fromkeys(
        ["smsconsent", "acceptssmsmarketing", "smsoptin", "smsmarketingconsent"]
        + ["smssubscribed", "smssubscription"],
        "sms_consent",
    ),
    **dict.fromkeys(
        ["smsconsentat", "smsconsenttimestamp", "smsmarketingconsenttimestamp", "smsoptinat"]
        + ["smsoptintime", "smsconsentdate"],
        "sms_consent_at",
    ),
    "tags": "traits.tags",
}

MAILCHIMP = {
    "Email Address": "email",
    "First Name": "first_name",
    "Last Name": "last_name",
    "Phone Number": "phone",
    "TIMEZONE": "time_zone",
    "CC": "country",
    # Several columns may feed one field: the first non-empty one wins.
    "UNSUB_TIME": "email_consent_at",
    "CLEAN_TIME": "email_consent_at",
    "CONFIRM_TIME": "email_consent_at",
    "OPTIN_TIME": "email_consent_at",
    "MEMBER_RATING": "traits.mailchimp_member_rating",
    "TAGS": "traits.tags",
}
SHOPIFY = {
    "Email": "email",
    "First Name": "first_name",
    "Last Name": "last_name",
    "Phone": "phone",
    "Default Address Phone": "phone",
    "Accepts Email Marketing": "email_consent",
    "Accepts Marketing": "email_consent",
    "Accepts SMS Marketing": "sms_consent",
    "Default Address Country Code": "country",
    "Country Code": "country",
    "Customer ID": "traits.shopify_customer_id",
    "Tags": "traits.tags",
    "Total Spent": "traits.total_spent",
    "Total Orders": "traits.total_orders",
}
KLAVIYO = {
    "Email": "email",
    "Phone Number": "phone",
    "External ID": "external_id",
    "First Name": "first_name",
    "Last Name": "last_name",
    "Timezone": "time_zone",
    "Locale": "locale",
    "Email Marketing Consent": "email_consent",
    "Email Marketing Consent Timestamp": "email_consent_at",
    "SMS Marketing Consent": "sms_consent",
    "SMS Consent": "sms_consent",
    "SMS Marketing Consent Timestamp": "sms_consent_at",
    "Klaviyo ID": "traits.klaviyo_id",
    "Country": "traits.country_name",
    "City": "traits.city",
}


@dataclass
class Plan:
    """How to read one file: its format, column -> field, and values every row shares."""

    format: str
    mapping: dict[str, str]
    constants: dict[str, str] = field(default_factory=dict)

    def columns_for(self, target: str) -> list[str]:
        return [column for column, name in self.mapping.items() if name == target]

    @property
    def targets(self) -> set[str]:
        return set(self.mapping.values()) | set(self.constants)

    @property
    def has_identifier(self) -> bool:
        return bool(self.targets & set(IDENTIFIERS))


def detect(headers: list[str]) -> Plan:
    """The export these headers come from, with its mapping."""
    present = set(headers)
    if "Email Address" in present and present & {"MEMBER_RATING", "OPTIN_TIME", "LEID", "EUID"}:
        return Plan(ImportFormat.MAILCHIMP, _pick(MAILCHIMP, headers), _mailchimp_status(present))
    if present & {"Accepts Email Marketing", "Accepts Marketing"} and present & {
        "Total Spent",
        "Total Orders",
        "Customer ID",
        "Default Address Phone",
    }:
        return Plan(ImportFormat.SHOPIFY, _pick(SHOPIFY, headers))
    if present & {"Klaviyo ID", "Email Marketing Consent", "Profile Created On"}:
        return Plan(ImportFormat.KLAVIYO, _pick(KLAVIYO, headers))
    return Plan(ImportFormat.PLAIN, _plain(headers))


def _pick(table: dict[str, str], headers: list[str]) -> dict[str, str]:
    # Table order decides which column wins when several feed one field.
    return {column: table[column] for column in table if column in headers}


def _mailchimp_status(present: set[str]) -> dict[str, str]:
    if "UNSUB_TIME" in present:
        return {"email_consent": "unsubscribed"}
    if "CLEAN_TIME" in present:
        return {"email_consent": "cleaned"}
    return {"email_consent": "subscribed"}


def _plain(headers: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for column in headers:
        target = PLAIN_ALIASES.get(normalise_header(column))
        if target and (target.startswith(TRAIT_PREFIX) or target not in mapping.values()):
            mapping[column] = target
    return mapping


def parse_mapping(text: str) -> dict[str, str]:
    """'E-mail=email,Mobil=phone,Notes=-' -> a dict; the command line's --mapping."""
    mapping: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        column, sep, target = part.rpartition("=")
        if not sep or not column.strip():
            raise MappingError(f"mapping {part!r} is not column=field")
        mapping[column.strip()] = target.strip()
    return mapping


def plan_for(headers: list[str], overrides: dict[str, str] | None = None) -> Plan:
    """The detected plan, with the operator's column -> field overrides applied."""
    plan = detect(headers)
    for column, target in (overrides or {}).items():
        if column not in headers:
            raise MappingError(f"the file has no column {column!r}")
        if target != IGNORE and target not in FIELDS and not _is_trait(target):
            allowed = ", ".join(FIELDS)
            raise MappingError(
                f"unknown field {target!r} for {column!r}; use {allowed}, traits.<name> or -"
            )
        plan.mapping.pop(column, None)
        if target != IGNORE:
            plan.mapping[column] = target
    if not plan.has_identifier:
        raise MappingError(
            "no identifier column: map a column to email, phone or external_id "
            f"(columns: {', '.join(headers)})"
        )
    traits = sum(1 for target in plan.mapping.values() if target.startswith(TRAIT_PREFIX))
    if traits > MAX_TRAITS:
        # On PostgreSQL each trait is a column of the batch's stage (a table: 1,600 at most).
        raise MappingError(
            f"{traits} columns are mapped to traits; at most {MAX_TRAITS:,} "
            "(map the others to - to leave them out)"
        )
    return plan


def _is_trait(target: str) -> bool:
    return target.startswith(TRAIT_PREFIX) and len(target) > len(TRAIT_PREFIX)
