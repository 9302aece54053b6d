"""Delivery: webhook alerts sent exactly once (``notify``), their journal (``state``), CRM import files (``crm``)."""
