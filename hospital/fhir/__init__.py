"""HL7 FHIR R4 read endpoints: Device (the equipment) and Location (site, buildings, floors, rooms).

Hospital systems integrate through FHIR: a nurse-call or EHR system asks "where is device 123" or
"which pumps are in room 3W-12" and gets resources it already understands. ``mapping`` turns the
models into FHIR JSON (pure, no queries); ``views`` does search, paging, errors as OperationOutcome and
the same authentication as the REST API. The mapping table is in docs/api.md.
"""
