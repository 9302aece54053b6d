"""Exporter presets: which source column feeds which canonical column, per table.

A candidate is a column name (JSON exports are flattened with dots: ``context.groupId``,
``properties.$insert_id``) or a tuple of names joined with a space (``("First Name", "Last Name")``).
The first candidate present in the file wins; ``--map canonical=source`` overrides any of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

Candidate = str | tuple[str, ...]

PRESETS = ("segment", "mixpanel", "amplitude", "hubspot", "salesforce")
READERS = ("csv", "parquet", "jsonl", "xlsx")
FORMATS = ("auto", *READERS, *PRESETS)


@dataclass(frozen=True)
class Preset:
    name: str
    columns: dict[str, list[Candidate]]
    # Segment: only these `type` values are rows of this table; others go to rejects with a reason
    segment_types: tuple[str, ...] = ()
    # columns whose prefix is dropped when numeric event properties are kept (properties.word_count -> word_count)
    property_prefixes: tuple[str, ...] = field(default=("properties.", "event_properties."))
    epoch_local_time: bool = False  # --timezone also applies to epoch numbers (old Mixpanel projects)
    # canonical columns filled row by row from every candidate present (first non-empty wins)
    per_row: tuple[str, ...] = ()
    # identity links: (column, column, label); a row with both (different) values links the two ids
    links: tuple[tuple[str, str, str], ...] = ()
    # events with these names are identity bookkeeping: skipped (counted), not usage
    system_events: tuple[str, ...] = ()


SEGMENT_LINKS = (
    ("anonymousId", "userId", "segment anonymousId"),
    ("anonymous_id", "user_id", "segment anonymousId"),
    ("previousId", "userId", "segment alias"),
    ("previous_id", "user_id", "segment alias"),
)
MIXPANEL_LINKS = (
    ("properties.$anon_distinct_id", "properties.$identified_id", "mixpanel $identify"),
    ("properties.alias", "properties.distinct_id", "mixpanel $create_alias"),
)
MIXPANEL_SYSTEM_EVENTS = ("$identify", "$create_alias", "$merge")


GENERIC: dict[str, dict[str, list[Candidate]]] = {
    "users": {
        # CRM / marketing-automation lead exports key a person by "Prospect ID" or "Lead ID"
        "user_id": ["user_id", "userId", "userid", "distinct_id", "id", "uid", "Prospect ID", "Lead ID"],
        "email": ["email", "email_address", "Email"],
        "account_id": ["account_id", "accountId", "company_id", "group_id", "org_id", "organization_id"],
        "name": ["name", "full_name", ("first_name", "last_name")],
        "title": ["title", "job_title", "jobtitle", "role"],
        "signup_at": ["signup_at", "signed_up_at", "created_at", "createdAt", "signup_date", "created"],
        "plan": ["plan", "plan_name", "subscription_plan"],
        "owner": ["owner", "owner_email", "account_owner"],
        "converted_at": ["converted_at", "became_customer_at"],
    },
    "accounts": {
        "account_id": ["account_id", "accountId", "company_id", "group_id", "org_id", "id"],
        "name": ["name", "company_name", "account_name"],
        "domain": ["domain", "website", "company_domain", "url"],
        "plan": ["plan", "plan_name"],
        "owner": ["owner", "owner_email", "account_owner"],
        "created_at": ["created_at", "createdAt", "created"],
        "converted_at": ["converted_at", "became_customer_at"],
        "employees": ["employees", "employee_count", "num_employees", "headcount"],
    },
    "events": {
        "event_id": ["event_id", "message_id", "messageId", "insert_id", "$insert_id", "uuid", "id"],
        "user_id": ["user_id", "userId", "distinct_id", "uid"],
        "account_id": ["account_id", "accountId", "company_id", "group_id", "groupId"],
        "event": ["event", "event_name", "event_type", "name", "action"],
        "timestamp": ["timestamp", "time", "event_time", "ts", "occurred_at", "created_at", "datetime"],
    },
}

_PRESETS: dict[tuple[str, str], Preset] = {
    ("segment", "events"): Preset(
        "segment",
        {
            "event_id": ["messageId", "message_id", "id"],
            "user_id": ["userId", "user_id", "anonymousId", "anonymous_id"],
            "account_id": ["context.groupId", "context_group_id", "context.traits.groupId", "groupId"],
            "event": ["event", "event_text"],
            "timestamp": ["timestamp", "originalTimestamp", "original_timestamp", "sentAt", "sent_at", "receivedAt"],
        },
        segment_types=("track",),
        per_row=("user_id",),
        links=SEGMENT_LINKS,
    ),
    ("segment", "users"): Preset(
        "segment",
        {
            "user_id": ["userId", "user_id", "id"],
            "email": ["traits.email", "email", "context.traits.email"],
            "account_id": ["context.groupId", "traits.company_id", "traits.account_id", "context_group_id"],
            "name": ["traits.name", "name", ("traits.firstName", "traits.lastName")],
            "title": ["traits.title", "title"],
            "signup_at": ["traits.createdAt", "traits.created_at", "created_at", "timestamp"],
            "plan": ["traits.plan", "plan"],
        },
        segment_types=("identify",),
        links=SEGMENT_LINKS,
    ),
    ("segment", "accounts"): Preset(
        "segment",
        {
            "account_id": ["groupId", "group_id", "id"],
            "name": ["traits.name", "name"],
            "domain": ["traits.website", "traits.domain", "website", "domain"],
            "plan": ["traits.plan", "plan"],
            "employees": ["traits.employees", "employees"],
            "created_at": ["traits.createdAt", "traits.created_at", "timestamp"],
        },
        segment_types=("group",),
    ),
    ("mixpanel", "events"): Preset(
        "mixpanel",
        {
            "event_id": ["properties.$insert_id", "properties.insert_id"],
            "user_id": ["properties.distinct_id", "properties.$user_id"],
            "account_id": ["properties.account_id", "properties.company_id", "properties.$group_id"],
            "event": ["event"],
            "timestamp": ["properties.time"],
        },
        epoch_local_time=True,
        links=MIXPANEL_LINKS,
        system_events=MIXPANEL_SYSTEM_EVENTS,
    ),
    ("amplitude", "events"): Preset(
        "amplitude",
        {
            "event_id": ["$insert_id", "insert_id", "uuid"],
            "user_id": ["user_id"],
            "account_id": ["groups.account_id", "groups.company_id", "user_properties.account_id"],
            "event": ["event_type"],
            "timestamp": ["event_time", "client_event_time", "server_upload_time"],
        },
    ),
    ("hubspot", "accounts"): Preset(
        "hubspot",
        {
            "account_id": ["Record ID", "Company ID", "Company ID (Record ID)"],
            "name": ["Company name", "Name"],
            "domain": ["Company Domain Name", "Website URL", "Domain"],
            "owner": ["Company owner", "HubSpot Owner", "Owner"],
            "created_at": ["Create Date", "Created Date"],
            "employees": ["Number of Employees"],
            "plan": ["Plan"],
            "converted_at": ["Became a Customer Date"],
        },
        per_row=("domain",),
    ),
    ("hubspot", "users"): Preset(
        "hubspot",
        {
            "user_id": ["User ID", "Product User ID", "Record ID", "Contact ID"],
            "email": ["Email", "Email Address"],
            "account_id": ["Associated Company IDs", "Associated Company ID", "Company ID",
                           "Associated Company IDs (Primary)"],
            "name": ["Name", ("First Name", "Last Name")],
            "title": ["Job Title"],
            "signup_at": ["Sign-up Date", "Signup Date", "Create Date"],
            "plan": ["Plan"],
            "owner": ["Contact owner", "HubSpot Owner", "Owner"],
            "converted_at": ["Became a Customer Date"],
        },
    ),
    ("salesforce", "accounts"): Preset(
        "salesforce",
        {
            "account_id": ["Id"],
            "name": ["Name"],
            "domain": ["Website", "Domain__c"],
            "owner": ["OwnerId", "Owner.Email", "Owner_Email__c"],
            "created_at": ["CreatedDate"],
            "employees": ["NumberOfEmployees"],
            "plan": ["Plan__c", "Type"],
            "converted_at": ["Converted_Date__c", "Customer_Since__c"],
        },
    ),
    ("salesforce", "users"): Preset(
        "salesforce",
        {
            "user_id": ["Product_User_Id__c", "Id"],
            "email": ["Email"],
            "account_id": ["AccountId"],
            "name": ["Name", ("FirstName", "LastName")],
            "title": ["Title"],
            "signup_at": ["Signup_Date__c", "CreatedDate"],
            "plan": ["Plan__c"],
            "owner": ["OwnerId", "Owner.Email"],
        },
    ),
}


def preset_for(fmt: str, kind: str) -> Preset:
    """The preset of ``fmt`` for ``kind`` (generic aliases for csv/parquet/jsonl or a preset without that table)."""
    found = _PRESETS.get((fmt, kind))
    if found is not None:
        return found
    return Preset("generic", GENERIC[kind])


def has_preset(fmt: str, kind: str) -> bool:
    return (fmt, kind) in _PRESETS


def detect_preset(columns: Sequence[str], kind: str, container: str) -> str | None:
    """Recognise an exporter by its signature columns; ``None`` when nothing is unambiguous."""
    cols = set(columns)
    hits = []
    if container == "zip" or {"event_type", "event_time"} <= cols or "amplitude_id" in cols:
        hits.append("amplitude")
    if {"properties.time", "properties.distinct_id"} <= cols:
        hits.append("mixpanel")
    if ("messageId" in cols and ("type" in cols or "userId" in cols)) or (
        "id" in cols and ("context_group_id" in cols or "event_text" in cols)
    ):
        hits.append("segment")
    if "Record ID" in cols or "Company Domain Name" in cols or "Associated Company IDs" in cols:
        hits.append("hubspot")
    if "Id" in cols and ("OwnerId" in cols or "CreatedDate" in cols or "AccountId" in cols):
        hits.append("salesforce")
    if len(hits) == 1 and has_preset(hits[0], kind):
        return hits[0]
    return None


def candidate_label(candidate: Candidate) -> str:
    return candidate if isinstance(candidate, str) else " + ".join(candidate)
