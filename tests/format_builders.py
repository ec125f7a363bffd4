"""Small HL7 aECG and GE MUSE XML documents written from the formats' published structure, for the tests.

No real patient data: every signal is synthetic, every identifier is the made-up ``DOE^JANE``.
The aECG layout follows HL7 v3 ``PORT_MT020001`` (AnnotatedECG / componentOf / ... / trialSubject;
component / series / component / sequenceSet), the MUSE layout the ``RestingECG`` export
(PatientDemographics, TestDemographics, Waveform / LeadData / WaveFormData).
"""

from __future__ import annotations

import base64
import zlib

import numpy as np

NAME = "DOE^JANE"
PATIENT_ID = "MRN-0424242"
BIRTH = "19510317"


def aecg_text(leads: dict, *, step="0.002", step_unit="s", time_code="TIME_RELATIVE", scale="5", unit="uV",
              origin="0", doctype="") -> str:
    """An aECG document: ``leads`` maps MDC codes to integer digits; the subject is ``DOE^JANE``."""
    seqs = [] if time_code is None else [f"""<component><sequence><code code="{time_code}" codeSystem="2.16.840.1.113883.5.4"/>
      <value xsi:type="{'GLIST_TS' if time_code == 'TIME_ABSOLUTE' else 'GLIST_PQ'}">
        <head value="{'20240102030405.500' if time_code == 'TIME_ABSOLUTE' else '0'}" unit="s"/>
        <increment value="{step}" unit="{step_unit}"/></value></sequence></component>"""]
    for code, digits in leads.items():
        seqs.append(f"""<component><sequence><code code="{code}" codeSystem="2.16.840.1.113883.6.24"/>
      <value xsi:type="SLIST_PQ"><origin value="{origin}" unit="{unit}"/><scale value="{scale}" unit="{unit}"/>
        <digits>{' '.join(str(int(d)) for d in digits)}</digits></value></sequence></component>""")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
{doctype}<AnnotatedECG xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <id root="1.2.3"/><code code="93000" codeSystem="2.16.840.1.113883.6.12"/>
  <effectiveTime><low value="20240102030405"/><high value="20240102030415"/></effectiveTime>
  <componentOf><timepointEvent><componentOf><subjectAssignment><subject><trialSubject>
    <id root="2.16.840.1" extension="{PATIENT_ID}"/>
    <subjectDemographicPerson><name>{NAME}</name><administrativeGenderCode code="F"/>
      <birthTime value="{BIRTH}"/></subjectDemographicPerson>
  </trialSubject></subject></subjectAssignment></componentOf></timepointEvent></componentOf>
  <component><series><code code="RHYTHM"/>
    <component><sequenceSet>{''.join(seqs)}</sequenceSet></component>
    <derivation><derivedSeries><code code="REPRESENTATIVE_BEAT"/><component><sequenceSet>
      <component><sequence><code code="MDC_ECG_LEAD_I"/><value xsi:type="SLIST_PQ"><origin value="0" unit="uV"/>
        <scale value="1" unit="uV"/><digits>1 2 3</digits></value></sequence></component>
    </sequenceSet></component></derivedSeries></derivation>
  </series></component>
</AnnotatedECG>
"""


def muse_lead(name: str, samples, *, per_bit="4.88", units="MICROVOLTS", crc=True, count=None) -> str:
    raw = np.asarray(samples, dtype="<i2").tobytes()
    return f"""<LeadData><LeadByteCountTotal>{len(raw)}</LeadByteCountTotal>
      <LeadSampleCountTotal>{len(samples) if count is None else count}</LeadSampleCountTotal>
      <LeadAmplitudeUnitsPerBit>{per_bit}</LeadAmplitudeUnitsPerBit><LeadAmplitudeUnits>{units}</LeadAmplitudeUnits>
      <LeadID>{name}</LeadID><LeadSampleSize>2</LeadSampleSize>
      {f'<LeadDataCRC32>{zlib.crc32(raw)}</LeadDataCRC32>' if crc else ''}
      <WaveFormData>{base64.b64encode(raw).decode()}</WaveFormData></LeadData>"""


def muse_waveform(kind: str, leads: dict, *, base="500", exponent="0", **lead_kw) -> str:
    return f"""<Waveform><WaveformType>{kind}</WaveformType><NumberofLeads>{len(leads)}</NumberofLeads>
    <SampleType>CONTINUOUS_SAMPLES</SampleType><SampleBase>{base}</SampleBase><SampleExponent>{exponent}</SampleExponent>
    {''.join(muse_lead(n, x, **lead_kw) for n, x in leads.items())}</Waveform>"""


def muse_text(*waveforms: str) -> str:
    """A MUSE export holding ``waveforms`` (from :func:`muse_waveform`); the patient is ``DOE^JANE``."""
    return f"""<?xml version="1.0" encoding="ISO-8859-1"?>
<!DOCTYPE RestingECG SYSTEM "restecg.dtd">
<RestingECG>
  <MuseInfo><MuseVersion>8.0.2</MuseVersion></MuseInfo>
  <PatientDemographics><PatientID>{PATIENT_ID}</PatientID><PatientAge>73</PatientAge><DateofBirth>03-17-1951</DateofBirth>
    <Gender>FEMALE</Gender><PatientLastName>DOE</PatientLastName><PatientFirstName>JANE</PatientFirstName></PatientDemographics>
  <TestDemographics><AcquisitionDate>01-02-2024</AcquisitionDate><AcquisitionTime>03:04:05</AcquisitionTime></TestDemographics>
  {''.join(waveforms)}
</RestingECG>
"""


def bomb(root: str = "AnnotatedECG", ns: str = ' xmlns="urn:hl7-org:v3"') -> str:
    """The "billion laughs" entity-expansion bomb around a recording's root element."""
    ents = ['<!ENTITY lol "lol">'] + [f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
                                      for i in range(1, 10)]
    return f"""<?xml version="1.0"?>\n<!DOCTYPE {root} [\n{chr(10).join(ents)}\n]>\n<{root}{ns}>&lol9;</{root}>\n"""


def external_entity(url: str, root: str = "AnnotatedECG", ns: str = ' xmlns="urn:hl7-org:v3"') -> str:
    """A document whose root holds an external entity (``file://...``, ``http://...``)."""
    return f"""<?xml version="1.0"?>\n<!DOCTYPE {root} [<!ENTITY ext SYSTEM "{url}">]>\n<{root}{ns}>&ext;</{root}>\n"""
