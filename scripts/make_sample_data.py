#!/usr/bin/env python3
"""Generate the sample knowledge base (``data/``) and the ingestion fixtures (``tests/fixtures/``).

Usage, from the repository root::

    .venv/bin/python scripts/make_sample_data.py              # write everything, then run the self-check
    .venv/bin/python scripts/make_sample_data.py --no-check   # write only
    .venv/bin/python scripts/make_sample_data.py --root /tmp/x  # write under another root (same layout)

The output is byte-for-byte reproducible: every text is a constant in this file, PDFs are built with
reportlab's ``invariant`` mode, DOCX/PPTX core properties carry fixed dates and their zip entries are
rewritten with a fixed timestamp, and the pseudo-random bytes use a fixed seed.

Sample knowledge base
---------------------
The documents describe a fictional company, Northwind Robotics (北风机器人), headquartered in Ningbo.
Each distinctive fact below occurs in exactly one document, so every question in
``tests/e2e/sample_questions.jsonl`` has a single right source (``scripts/check_sample_data.py`` verifies this).

=====================================  ======  ====  ==================================================
file                                   format  lang  distinctive fact
=====================================  ======  ====  ==================================================
nw200_datasheet.md                     md      en    NW-200 battery capacity 1,920 Wh
warranty_policy.pdf                    pdf     en    standard warranty period 27 months (3 pages)
support_guide.html                     html    en    support hotline +1-800-555-0142
fleet_manager_3.4_release_notes.txt    txt     en    Fleet Manager 3.4.0 released 14 March 2025
employee_handbook.docx                 docx    en    18 working days of annual leave (leave table)
price_list_2025.csv                    csv     en    NW-200-STD list price 38400 USD
travel_policy_zh.pdf                   pdf     zh    一线城市住宿每晚不超过850元 (2 pages, STSong-Light)
onboarding_guide_zh.md                 md      zh    入职培训项目名为“启航营”
security_policy_zh.html                html    zh    登录密码长度不少于14位
nw50_faq_zh.txt                        txt     zh    NW-50 满电连续巡检最长11.5小时
quality_manual_zh.docx                 docx    zh    整机出厂前须完成72小时老化测试
company_overview.pptx                  pptx    zh    公司成立于2013年 (slides in Chinese, titles bilingual)
=====================================  ======  ====  ==================================================

``tests/e2e/sample_questions.jsonl`` holds one JSON object per line::

    {"question": ..., "lang": "zh"|"en", "expected_source": "<file name in data/>",
     "answer_contains": ["<string found only in that file's extracted text>"]}

Bad-file fixtures (``tests/fixtures/bad_files/``)
-------------------------------------------------
Each file exercises one failure path of ingestion. There is deliberately no README in that folder,
because a README would itself be ingested.

``truncated.pdf``
    The first half of a valid two-page English PDF ("Dock Maintenance Log"). It starts with a proper
    ``%PDF-1.4`` header but has no cross-reference table, trailer or ``%%EOF``; pypdf raises
    ``PdfStreamError`` and pdfminer raises ``PDFSyntaxError``. Expected: the file is
    reported as corrupt and skipped.
``not_really.docx``
    Plain UTF-8 text saved under a ``.docx`` name. It is not a zip archive, so DOCX parsing fails
    (``zipfile.BadZipFile`` / ``PackageNotFoundError``). Expected: reported and skipped.
``empty.txt``
    Zero bytes. Expected: skipped (or reported) as having no text; no empty chunk is indexed.
``gbk_notes.txt``
    Chinese warehouse notes encoded in GBK, not UTF-8 (decoding as UTF-8 fails). Line 1 is the title
    ``北风机器人仓库管理规定``; line 2 the fact ``备件仓库温度须保持在15至25摄氏度之间``; line 3 a fact about
    battery storage (``每个防火柜最多存放8个电池包``). A loader that falls back to GB18030/GBK should
    recover all lines; one that only tries UTF-8 should report a decoding error, not index mojibake.
``binary.md``
    512 pseudo-random bytes (fixed seed) with NUL bytes, named ``.md``. Expected: rejected as binary,
    not indexed as garbage text.
``unknown.xyz``
    Readable text under an unsupported extension. Expected: skipped with an "unsupported type" reason.

Mixed batch (``tests/fixtures/mixed_batch/``)
---------------------------------------------
``dock_checklist.md`` (English, fact: the dock needs a dedicated 16 A circuit), ``shift_handover.txt``
(Chinese, UTF-8, fact: 夜班交接时间为22:30) and ``truncated.pdf`` (a copy of the bad fixture), for tests
of the form "the corrupt file is skipped and the rest is indexed".
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import io
import json
import random
import sys
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent

# Fixed metadata so every run writes identical bytes.
FIXED_DATETIME = dt.datetime(2025, 1, 6, 9, 0, 0)
ZIP_DATE_TIME = (2025, 1, 6, 9, 0, 0)
AUTHOR_EN = "Northwind Robotics"
AUTHOR_ZH = "北风机器人"
RANDOM_SEED = 20250106


# ---------------------------------------------------------------------------------------------
# Document texts
# ---------------------------------------------------------------------------------------------

NW200_DATASHEET_MD = """\
# NW-200 Carrier — Product Datasheet

*Document NR-DS-200 · Revision C · Northwind Robotics Product Management*

## Overview

The NW-200 Carrier is the Northwind Robotics autonomous mobile robot (AMR) for moving totes, cartons
and small pallets between storage, picking and packing areas. It navigates with laser SLAM and needs
no floor magnets, QR codes or reflectors. A typical deployment of 10 to 40 units is commissioned in
under three weeks, and more robots can be added to a running fleet without stopping operations.

The NW-200 is built for multi-shift operation in e-commerce fulfilment, electronics assembly and
automotive parts logistics. It is designed to work alongside people: the safety system slows the robot
when a person enters its protective field and stops it well before contact.

## Key specifications

| Item | Value |
|---|---|
| Rated payload | 300 kg |
| Lift module (optional) | 60 mm stroke, 300 kg |
| Maximum speed | 2.0 m/s (1.2 m/s when loaded above 200 kg) |
| Dimensions (L × W × H) | 980 × 650 × 310 mm |
| Robot weight | 142 kg |
| Turning radius | 0 (turns on the spot) |
| Positioning accuracy | ±10 mm, ±1° |
| Minimum aisle width | 1,100 mm |
| Climbing ability | 5% ramp, 20 mm step, 30 mm gap |
| Ingress protection | IP54 |
| Operating temperature | 0 °C to 45 °C |
| Battery | LiFePO4, 48 V, 1,920 Wh |

## Battery and charging

The NW-200 uses a 48 V lithium iron phosphate (LiFePO4) battery pack with a capacity of 1,920 Wh.
On a standard mixed duty cycle (60% empty travel, 25% loaded travel, 15% idle) one charge lasts about
nine hours. The robot docks itself at an NW-CD2 charging station when its state of charge falls below
a configurable threshold (25% by default).

- Opportunity charging: 0 to 80% in 70 minutes at the 40 A dock.
- Full charge: 0 to 100% in about 95 minutes.
- Rated cycle life: 4,000 cycles to 80% of the original capacity.
- The pack can be swapped by one technician in under three minutes with the NW-BT-SW swap cart.

Store spare packs at 30 to 60% charge in a dry room between 10 °C and 30 °C, and top them up every
three months.

## Navigation and safety

- Two 270° safety laser scanners (PL d, Category 3), front and rear
- 3D depth cameras that detect overhanging obstacles up to 1.8 m above the floor
- Bumper strips with a mechanical emergency stop on all four corners
- Two red emergency stop buttons, one on each long side
- Speed zones, one-way aisles and no-go areas drawn in Fleet Manager
- Audible warning and a blue floor projection light when reversing or turning at crossings

Maps are built by driving the robot once through the site with the handheld controller; the map is
then edited in Fleet Manager. The robot localises against natural features (racking, walls, columns)
and tolerates up to 30% of the scene changing from day to day, for example when pallets are moved.

## Connectivity and integration

The NW-200 connects over Wi-Fi 6 (2.4 GHz and 5 GHz) with seamless roaming between access points.
Fleet Manager exposes a REST API and supports the VDA 5050 interface for mixed fleets. Standard
adapters are available for common warehouse management (WMS) and manufacturing execution (MES)
systems; custom integrations use the REST API or OPC UA.

## Maintenance

| Interval | Task |
|---|---|
| Weekly | Clean the laser scanner windows and camera lenses |
| Every 500 operating hours | Inspect the drive wheels and bumper strips |
| Every 2,000 operating hours | Replace the drive wheel treads, check the lift module |
| Yearly | Full safety function test by a certified technician |

## Ordering information

| Model code | Description |
|---|---|
| NW-200-STD | NW-200 Carrier, standard top plate |
| NW-200-LFT | NW-200 Carrier with lift module |
| NW-CD2 | Automatic charging dock, 40 A |
| NW-BT-SW | Battery swap cart |

For prices and lead times, see the current price list. Warranty terms are set out in the Northwind
hardware warranty policy.
"""

# Blocks for the English warranty PDF: (kind, text) with kind in title/subtitle/h1/p/bullet/note/table.
WARRANTY_BLOCKS: list[tuple[str, Any]] = [
    ("title", "Northwind Robotics Hardware Warranty Policy"),
    ("subtitle", "Policy NR-POL-014 · Version 5.1 · Applies to deliveries from 1 July 2024"),
    ("note", "Standard warranty period: 27 months from the date of delivery."),
    ("h1", "1. Purpose and scope"),
    (
        "p",
        "This policy describes the limited hardware warranty that Northwind Robotics Limited "
        '("Northwind") gives to customers who buy NW-series robots, charging docks and accessories '
        "directly from Northwind or from an authorised partner. It applies to hardware only. Software, "
        "including Fleet Manager, is covered by the software licence agreement and its maintenance terms. "
        "Where a signed customer contract sets different warranty terms, the contract prevails over this "
        "policy.",
    ),
    ("h1", "2. Warranty period"),
    (
        "p",
        "Northwind warrants that each robot will be free from defects in materials and workmanship "
        "for 27 months from the date of delivery shown on the signed delivery note. Where the delivery "
        "date is not documented, the period starts 30 days after the date of shipment from the Northwind "
        "factory. Some components follow their own rules:",
    ),
    ("bullet", "Battery packs: the standard period or 3,000 full charge cycles, whichever comes first."),
    ("bullet", "Charging docks and battery swap carts: the standard period."),
    ("bullet", "Wear parts (drive wheel treads, bumper strips, scanner windows): 6 months."),
    ("bullet", "Parts replaced under warranty: the remainder of the original period or 90 days, whichever is longer."),
    ("h1", "3. What the warranty covers"),
    (
        "p",
        "During the warranty period Northwind will, at its option, repair or replace any part that fails "
        "under normal use in accordance with the product documentation. Northwind pays for parts, labour "
        "and standard shipping of replacement parts. On-site labour is included for sites within the "
        "service area of a Northwind service centre or an authorised partner; outside those areas, travel "
        "time and expenses are charged at the published service rates.",
    ),
    (
        "p",
        "If the same fault recurs three times on one robot within twelve months despite repair, Northwind "
        "will replace the affected assembly with a new one, or, where that is not practical, replace the "
        "robot.",
    ),
    ("h1", "4. Exclusions"),
    ("p", "The warranty does not cover:"),
    (
        "bullet",
        "damage caused by accidents, collisions with objects placed in the robot's path against the "
        "site rules, misuse, or operation outside the published specifications;",
    ),
    ("bullet", "damage from liquids, fire, lightning, power surges or other external causes;"),
    (
        "bullet",
        "repairs, modifications or disassembly carried out by anyone other than Northwind or an authorised partner;",
    ),
    ("bullet", "use of batteries, chargers or spare parts not supplied or approved by Northwind;"),
    ("bullet", "cosmetic damage, such as scratches and dents, that does not affect function;"),
    ("bullet", "normal wear of wear parts after their own period has ended;"),
    ("bullet", "loss of data, maps or configuration. Customers are responsible for their own backups."),
    ("h1", "5. Making a warranty claim"),
    (
        "p",
        "Claims are opened in the Northwind customer portal under Service > Warranty claims. Each claim "
        "needs the robot serial number (printed on the label under the rear service cover), a description "
        "of the fault, the controller log bundle exported from Fleet Manager, and photos of any physical "
        "damage. The service team reviews each claim within two business days and issues a Return "
        "Material Authorisation (RMA) number if a part must be sent back. Parts returned without an RMA "
        "number are refused at the depot.",
    ),
    ("h1", "6. Repair and replacement"),
    ("p", "Northwind aims for the following turnaround on approved claims:"),
    (
        "bullet",
        "Advance replacement of field-replaceable units (scanners, drive modules, battery packs, "
        "controller boards): shipped within three business days from regional stock.",
    ),
    ("bullet", "Depot repair of complete robots: returned within 15 business days of receipt."),
    ("bullet", "On-site repair: scheduled within five business days inside the service area."),
    (
        "p",
        "Replaced parts become the property of Northwind. Northwind may use new or refurbished parts that "
        "are equivalent to new in performance and reliability.",
    ),
    ("h1", "7. Extended coverage (CarePlus)"),
    (
        "p",
        "Customers can extend hardware coverage with a CarePlus plan bought within 90 days of delivery. "
        "CarePlus adds 12 or 24 months to the standard period and includes one preventive maintenance "
        "visit per year and priority handling of claims. A CarePlus plan is tied to one robot serial "
        "number and cannot be moved to another robot.",
    ),
    ("h1", "8. Transfer of ownership"),
    (
        "p",
        "The warranty passes to a new owner of the robot for the remainder of the period if the robot "
        "stays at the original site or Northwind confirms the new site in writing. Robots moved to another "
        "country without written confirmation lose warranty coverage.",
    ),
    ("h1", "9. Customer responsibilities"),
    ("p", "To keep the warranty valid, the customer must:"),
    ("bullet", "follow the maintenance schedule in the product datasheet and keep a maintenance record;"),
    ("bullet", "keep robot software within two minor releases of the current version;"),
    ("bullet", "update the site map and safety zones after any change to the layout;"),
    ("bullet", "give Northwind technicians safe access to the robots, the charging area and the site."),
    ("h1", "10. Limitation of liability"),
    (
        "p",
        "To the extent permitted by law, repair or replacement under this policy is the customer's sole "
        "remedy for hardware defects. Northwind is not liable for indirect or consequential losses, "
        "including lost production or lost profits. Nothing in this policy limits rights that a customer "
        "has under mandatory consumer protection or product liability law.",
    ),
    ("h1", "11. Governing law and questions"),
    (
        "p",
        "This policy is governed by the law named in the customer's purchase agreement. Questions about "
        "this policy are handled by the Northwind warranty desk through the customer portal.",
    ),
    ("h1", "Document history"),
    (
        "table",
        [
            ["Version", "Date", "Change"],
            ["5.1", "2024-06-10", "Longer standard period; battery swap carts added to scope"],
            ["5.0", "2023-11-02", "CarePlus plans replace the former Extended Service Agreement"],
            ["4.2", "2022-08-19", "Wear parts listed explicitly"],
        ],
    ),
]

SUPPORT_GUIDE_HTML = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Customer Support Guide | Northwind Robotics</title>
<meta name="description" content="How to contact Northwind Robotics support, severity levels and response targets.">
<style>
body { font-family: sans-serif; max-width: 52rem; margin: 2rem auto; line-height: 1.5; }
table { border-collapse: collapse; }
th, td { border: 1px solid #999; padding: 4px 8px; text-align: left; }
</style>
</head>
<body>
<header>
<nav>
<a href="/">Home</a> | <a href="/products">Products</a> |
<a href="/support">Support</a> | <a href="/portal">Customer portal</a>
</nav>
</header>
<main>
<h1>Customer Support Guide</h1>
<p>This guide explains how customers and partners get help with Northwind robots, charging equipment
and Fleet Manager: which channel to use, how incidents are prioritised, what information to have ready
and how escalation works. It applies to all customers with a valid warranty or an active maintenance
plan.</p>

<h2>How to reach us</h2>
<ul>
<li><strong>Support hotline:</strong> +1-800-555-0142 (toll-free). The hotline is staffed around the
clock for P1 incidents and from 07:00 to 19:00 US Eastern time on business days for all other
requests. Callers outside North America can use the callback form in the customer portal.</li>
<li><strong>Email:</strong> support@northwind-robotics.example, answered during business hours.</li>
<li><strong>Customer portal:</strong> open and track tickets, download log bundles and firmware, and
read the knowledge base.</li>
</ul>
<p>Use the hotline for anything that stops production. For questions, configuration changes and
non-urgent faults, open a ticket in the portal so that logs and screenshots stay attached to it.</p>

<h2>Severity levels and response targets</h2>
<table>
<thead><tr><th>Severity</th><th>Definition</th><th>First response</th><th>Update interval</th></tr></thead>
<tbody>
<tr><td>P1 Critical</td><td>Fleet stopped or a safety function not working</td>
<td>30 minutes</td><td>Every hour</td></tr>
<tr><td>P2 High</td><td>More than a quarter of the fleet unavailable, or throughput badly reduced</td>
<td>2 hours</td><td>Every 4 hours</td></tr>
<tr><td>P3 Normal</td><td>Single robot fault with a workaround, or minor software defect</td>
<td>1 business day</td><td>Every 2 business days</td></tr>
<tr><td>P4 Request</td><td>Questions, documentation, feature requests</td>
<td>3 business days</td><td>On progress</td></tr>
</tbody>
</table>
<p>Response targets are measured from the time the ticket is logged or the call is answered. The
support engineer may lower or raise the severity after the first diagnosis, and will tell you when
doing so.</p>

<h2>Before you contact support</h2>
<ol>
<li>Note the serial number of each affected robot (label under the rear service cover).</li>
<li>Note the Fleet Manager version shown under Settings &gt; About.</li>
<li>Export the log bundle: Fleet Manager &gt; Robots &gt; select robot &gt; Diagnostics &gt; Export.
Bundles cover the last 72 operating hours by default.</li>
<li>Describe what happened, when it started, and what changed on site recently (layout, Wi-Fi,
software, new racking).</li>
<li>If there was a collision or physical damage, take photos before moving the robot.</li>
</ol>

<h2>Remote diagnostics</h2>
<p>Most faults are solved remotely. With your permission, a support engineer connects to Fleet Manager
through the encrypted remote service gateway, which is off by default and is switched on per session
by a site administrator. Every remote session is recorded in the audit log, and the engineer never
moves robots remotely without someone on site confirming that the area is clear.</p>

<h2>Escalation</h2>
<p>If a P1 or P2 incident is not progressing, ask the support engineer to escalate. Escalation goes
first to the duty support manager, then to the regional service director. Customers with a CarePlus
plan also have a named technical account manager who can be contacted directly during business
hours.</p>

<h2>On-site visits and spare parts</h2>
<p>When a fault cannot be fixed remotely, support arranges an on-site visit by a Northwind field
engineer or an authorised partner. Field-replaceable units are shipped from the nearest regional
warehouse. Keep the packaging of replaced parts: faulty parts must be returned in it with the
Return Material Authorisation number on the label.</p>

<h2>Training and self-service</h2>
<p>The knowledge base in the customer portal has step-by-step articles for common tasks, such as
re-mapping an area, replacing bumper strips or restoring a Fleet Manager backup. Operator and
maintenance courses can be booked through your account manager.</p>
</main>
<footer>
<p>Northwind Robotics Limited. All rights reserved. | <a href="/privacy">Privacy</a> | <a href="/terms">Terms</a></p>
</footer>
</body>
</html>
"""

RELEASE_NOTES_TXT = """\
FLEET MANAGER 3.4.0 - RELEASE NOTES
===================================

Product:       Northwind Fleet Manager (server and robot agent)
Version:       3.4.0 (build 3.4.0.2291)
Release date:  14 March 2025
Applies to:    NW-200 Carrier, NW-50 Inspector
Replaces:      3.3.2


SUMMARY
-------
Fleet Manager 3.4.0 adds elevator integration for multi-floor sites, a traffic heat map, and support
for version 2.1 of the VDA 5050 interface. It also shortens route planning time for large maps and
fixes 23 issues reported since 3.3.2. All customers on 3.2.x and 3.3.x are encouraged to upgrade.


NEW FEATURES
------------
* Elevator integration. Robots can now call and ride goods elevators through the new elevator
  adapter (Modbus TCP or REST). A multi-floor site is modelled as one map with linked floor layers.
* Traffic heat map. The Analytics page shows where robots wait, slow down or re-plan, aggregated per
  hour, day or week. Areas can be exported as CSV for layout reviews.
* VDA 5050 2.1. Mixed fleets can now exchange instant actions and zone information with other
  vendors' master controllers.
* Scheduled map updates. Map changes can be prepared in a draft and published at a set time, for
  example during a shift change, instead of immediately.
* Role-based access control. Three new built-in roles (Viewer, Operator, Site Admin) plus custom roles
  with per-page permissions. Users can sign in with SAML 2.0 single sign-on.


IMPROVEMENTS
------------
* Route planning on maps larger than 50,000 square metres is up to 40% faster.
* Robots that lose Wi-Fi now finish their current move and wait at the next safe point instead of
  stopping in the aisle.
* The charging scheduler spreads docking across the fleet so that no more than a set share of robots
  charge at the same time (default 30%).
* Log bundles are now compressed, making them about 60% smaller.
* The robot list can be filtered by battery state, software version and error code.


FIXED ISSUES
------------
FM-4412  Robots sometimes re-planned in a loop at four-way crossings with one-way rules.
FM-4420  The "Return to dock" button had no effect when a robot was paused.
FM-4437  Scheduled reports were sent in UTC instead of the site time zone.
FM-4451  Editing a no-go area could move nearby speed zones by a few centimetres.
FM-4463  Importing a map with more than 2,000 waypoints timed out in the browser.
FM-4478  The REST API returned HTTP 500 for an empty mission list instead of an empty array.
(17 further minor fixes are listed in the customer portal.)


KNOWN ISSUES
------------
FM-4502  The heat map does not yet include NW-50 inspection routes.
         Workaround: use the route report under Analytics > Inspection.
FM-4510  After switching the interface language, some chart labels keep the old language until the
         page is reloaded.


UPGRADE NOTES
-------------
1. Supported upgrade paths: 3.2.x and 3.3.x upgrade directly. Older versions must first upgrade to
   3.2.5.
2. Back up the Fleet Manager database before upgrading (Settings > Maintenance > Backup).
3. The server upgrade takes about 20 minutes, during which robots finish their current mission and
   then wait. Plan the upgrade for a quiet period.
4. Robot agents update automatically the next time each robot is idle on its charging dock.
5. Browser support: current versions of Chrome, Edge and Firefox. Internet Explorer is not supported.


COMPATIBILITY
-------------
Server:        Ubuntu 22.04 LTS or Red Hat Enterprise Linux 9, 8 CPU cores, 32 GB RAM
Database:      PostgreSQL 14, 15 or 16
Robot agent:   NW-200 controller firmware 7.2 or later; NW-50 controller firmware 2.8 or later


END OF SUPPORT
--------------
Fleet Manager 3.1.x reaches end of support on 30 September 2025. No further fixes will be released
for it after that date.
"""

HANDBOOK_INTRO = (
    "Edition 2025. This handbook applies to employees of Northwind Robotics in all offices outside "
    "mainland China. Employees in mainland China follow the local HR rules published on the intranet. "
    "Where your employment contract or local law gives you more favourable terms, those terms apply."
)

# Blocks for the English DOCX: (kind, payload). kind: h1, p, bullet, table.
HANDBOOK_BLOCKS: list[tuple[str, Any]] = [
    ("h1", "1. Welcome to Northwind"),
    (
        "p",
        "Northwind Robotics designs and builds mobile robots that take heavy, repetitive walking out of "
        "warehouses and factories. We are a company of engineers, field technicians and customer teams "
        "who care about doing things properly. This handbook explains how we work together, what you "
        "can expect from the company, and what the company expects from you.",
    ),
    (
        "p",
        "The handbook is not a contract. It summarises our policies, which are kept up to date on the "
        "intranet. If something here is unclear, ask your manager or the People team.",
    ),
    ("h1", "2. Working hours and flexibility"),
    (
        "p",
        "The standard working week is 40 hours. Core hours are 10:00 to 16:00 local time, Monday to "
        "Friday; outside core hours you can organise your day with your team. Field engineers work to "
        "a published roster that includes on-call weeks, which are compensated separately.",
    ),
    (
        "p",
        "Overtime must be agreed with your manager in advance. It is paid or given back as time off "
        "according to local law and your contract.",
    ),
    ("h1", "3. Leave"),
    (
        "p",
        "Full-time employees receive 18 working days of paid annual leave per calendar year, in "
        "addition to public holidays. Part-time employees receive a pro-rata share. Up to five unused "
        "days can be carried into the next year and must be taken by 31 March; other unused days lapse "
        "unless local law says otherwise.",
    ),
    (
        "p",
        "Book leave in the HR system at least two weeks in advance for absences longer than three "
        "days. The table below summarises the main types of leave.",
    ),
    (
        "table",
        [
            ["Leave type", "Entitlement", "Notes"],
            ["Annual leave", "18 working days", "Per calendar year; pro rata for part-time staff"],
            ["Sick leave", "10 working days, fully paid", "Doctor's note from the fourth consecutive day"],
            ["Parental leave", "20 weeks, fully paid", "For every new parent; can be split into two blocks"],
            ["Bereavement leave", "5 working days", "Close family members"],
            ["Volunteering", "2 working days", "For registered charities"],
            ["Study leave", "Up to 5 working days", "For approved courses and exams"],
        ],
    ),
    ("h1", "4. Remote and hybrid work"),
    (
        "p",
        "Office-based employees may work remotely up to two days a week, agreed with their team. "
        "Roles that need hands-on work with robots, such as test engineering and production, are "
        "mainly on site. Working from another country requires approval from the People team in "
        "advance because of tax and insurance rules.",
    ),
    ("h1", "5. Equipment and information security"),
    (
        "p",
        "You will receive a laptop and, where your role needs it, a mobile phone. Company equipment "
        "must be used in line with the information security rules on the intranet, including disk "
        "encryption, screen locking and multi-factor sign-in. Report a lost or stolen device to the IT "
        "service desk immediately.",
    ),
    ("h1", "6. Performance and development"),
    (
        "p",
        "Performance conversations take place twice a year, in June and December. They cover what you "
        "delivered, how you worked with others, and your goals for the next half year. Each employee "
        "has a yearly learning budget of USD 1,500 for courses, books and conferences, agreed with "
        "their manager.",
    ),
    ("bullet", "Internal mobility: after 12 months in your role you may apply for open internal positions."),
    ("bullet", "Mentoring: every new employee is paired with an experienced colleague for the first three months."),
    ("bullet", "Certification: field engineers are certified on each robot model before working alone."),
    ("h1", "7. Benefits"),
    (
        "p",
        "Benefits depend on the country and include health insurance, a pension plan and a yearly "
        "health check. Details for your office are in the benefits guide on the intranet.",
    ),
    ("h1", "8. Code of conduct"),
    (
        "p",
        "We treat colleagues, customers and partners with respect. Harassment, discrimination and "
        "bribery are not tolerated. Gifts from suppliers or customers above a modest value must be "
        "declared. Safety comes first: never bypass a robot's safety function, and stop work if you "
        "believe a situation is unsafe.",
    ),
    ("h1", "9. Raising concerns"),
    (
        "p",
        "If you see something that is wrong, talk to your manager, the People team or the legal team. "
        "You can also report anonymously through the ethics line on the intranet. Nobody will be "
        "penalised for raising a concern in good faith.",
    ),
]

PRICE_LIST_ROWS: list[list[str]] = [
    ["sku", "product_name", "category", "description", "list_price_usd", "lead_time_weeks"],
    ["NW-200-STD", "NW-200 Carrier", "Robot", "Autonomous mobile robot, standard top plate", "38400", "6"],
    ["NW-200-LFT", "NW-200 Carrier Lift", "Robot", "NW-200 Carrier with 60 mm lift module", "42900", "8"],
    ["NW-50-INS", "NW-50 Inspector", "Robot", "Inspection robot with thermal and visible-light cameras", "26750", "10"],
    ["NW-CD2", "Charging dock", "Accessory", "Automatic charging dock, 40 A", "2150", "4"],
    ["NW-BT-200", "Spare battery pack", "Accessory", "Spare LiFePO4 pack for the NW-200 Carrier", "5480", "4"],
    ["NW-BT-SW", "Battery swap cart", "Accessory", "Cart for changing NW-200 battery packs", "1320", "4"],
    ["NW-HC1", "Handheld controller", "Accessory", "Controller for mapping and manual driving", "640", "2"],
    ["FM-SRV-25", "Fleet Manager licence (25)", "Software", "Server licence, up to 25 robots, perpetual", "18000", "1"],
    [
        "FM-SRV-100",
        "Fleet Manager licence (100)",
        "Software",
        "Server licence, up to 100 robots, perpetual",
        "52000",
        "1",
    ],
    ["FM-MNT-Y", "Fleet Manager maintenance", "Software", "Yearly updates and support, per robot", "420", "0"],
    ["CP-12", "CarePlus 12", "Service", "Hardware coverage extension, 12 months, per robot", "2900", "0"],
    ["CP-24", "CarePlus 24", "Service", "Hardware coverage extension, 24 months, per robot", "5200", "0"],
    ["SVC-COM", "Commissioning", "Service", "On-site commissioning, per robot", "1100", "0"],
    ["TRN-OPS", "Operator training", "Service", "One-day course for up to 8 people", "1800", "0"],
]

TRAVEL_BLOCKS_ZH: list[tuple[str, str]] = [
    ("title", "北风机器人差旅及费用报销制度"),
    ("subtitle", "文件编号：BF-FIN-021　版本：3.0　生效日期：2024年9月1日　发布部门：财务部"),
    ("h1", "第一章　总则"),
    (
        "p",
        "第一条　为规范公司员工因公出差的审批、费用标准和报销流程，合理控制差旅成本，"
        "根据公司财务管理制度，制定本制度。",
    ),
    ("p", "第二条　本制度适用于北风机器人（宁波）有限公司及其各分公司、子公司的全体正式员工、试用期员工和实习生。"),
    ("p", "第三条　出差应坚持“事前审批、标准控制、据实报销”的原则。未经审批的出差，所发生的费用原则上不予报销。"),
    ("h1", "第二章　出差审批"),
    ("p", "第四条　员工出差前须在OA系统提交《出差申请单》，写明出差事由、地点、天数、同行人员和费用预算。"),
    (
        "p",
        "第五条　审批权限：国内出差三天以内由部门经理审批；超过三天或预算超过一万元的，由分管副总裁审批；"
        "境外出差一律由总裁审批。",
    ),
    ("p", "第六条　因客户现场设备紧急故障需要立即出发的，可先行出发，并在出发后一个工作日内补办审批手续。"),
    ("h1", "第三章　交通费用"),
    ("p", "第七条　城市间交通优先选择高铁或动车。普通员工乘坐二等座，总监及以上人员可乘坐一等座。"),
    (
        "p",
        "第八条　单程高铁时间超过六小时，或没有直达铁路的，可以乘坐飞机经济舱。机票应在出发前至少七天预订，"
        "并优先选择折扣较低的航班。",
    ),
    (
        "p",
        "第九条　出差地市内交通以地铁、公交为主；携带设备出行或夜间十点以后出行的，"
        "可乘坐出租车或网约车，凭发票实报实销。",
    ),
    ("p", "第十条　自驾车出差须事先审批，按每公里1.2元的标准给予车辆补贴，路桥费和停车费凭票报销。"),
    ("h1", "第四章　住宿费用"),
    ("p", "第十一条　住宿费按出差城市类别实行限额标准（每人每晚）："),
    ("item", "一、一线城市（北京、上海、广州、深圳）：每晚不超过850元；"),
    ("item", "二、省会城市及计划单列市：每晚不超过550元；"),
    ("item", "三、其他城市：每晚不超过400元。"),
    ("p", "第十二条　总监及以上人员的住宿标准可在上述限额基础上上浮30%。"),
    ("p", "第十三条　两名同性别员工同行出差的，原则上合住一间标准间。"),
    ("p", "第十四条　超出限额的部分由员工自行承担。大型展会期间酒店价格普遍上涨等特殊情况，须事先取得财务部书面同意。"),
    ("h1", "第五章　出差补助"),
    ("p", "第十五条　出差期间发放伙食补助，标准为每人每天120元，按实际出差天数计算，不需要提供发票。"),
    ("p", "第十六条　客户或合作方已安排用餐的，当餐不再发放伙食补助。"),
    ("p", "第十七条　在客户现场连续驻场超过三十天的，可按月申请驻场补贴，具体标准另行规定。"),
    ("h1", "第六章　报销流程"),
    ("p", "第十八条　员工应在出差结束后十五个工作日内，通过OA系统提交报销申请，并上传发票原件扫描件或电子发票。"),
    ("p", "第十九条　报销单须经部门经理审核、财务部复核后支付。财务部在收到完整单据后五个工作日内完成付款。"),
    (
        "p",
        "第二十条　发票抬头须为公司全称，并注明统一社会信用代码。丢失发票的，须提交情况说明，"
        "经财务总监批准后方可报销。",
    ),
    ("p", "第二十一条　借支差旅备用金的，应在报销时一并冲账；出差结束后三十天内未冲账的，财务部将从当月工资中扣回。"),
    ("h1", "第七章　附则"),
    ("p", "第二十二条　虚报、冒领差旅费用的，一经查实，公司将追回全部款项，并按《员工奖惩办法》处理。"),
    ("p", "第二十三条　本制度由财务部负责解释，自发布之日起施行，原《差旅管理办法》同时废止。"),
]

ONBOARDING_MD_ZH = """\
# 北风机器人新员工入职指南

> 适用对象：宁波总部及国内各办公室的新入职员工　|　维护部门：人力资源部　|　版本：2.2

## 欢迎加入北风机器人

欢迎你加入北风机器人！我们是一家专注于仓储物流和工业巡检的移动机器人公司。无论你来自研发、生产、销售还是职能部门，
这份指南都会帮助你顺利度过入职的第一个月：入职前要准备什么、第一天去哪里报到、培训怎么安排、遇到问题找谁。

## 入职前准备

请在入职日之前准备好以下材料，并在入职当天交给人力资源部：

- 身份证原件及复印件两份；
- 最高学历证书、学位证书原件；
- 上一家单位出具的离职证明；
- 近三个月内的入职体检报告（公司指定的体检机构名单会随录用通知一同发送）；
- 本人名下的银行卡信息，用于发放工资。

如果你需要办理档案转移或社保转移，请提前与招聘专员沟通。

## 入职第一天

1. 上午9:00到宁波总部一号楼一层前台报到，前台会引导你到人力资源部签署劳动合同。
2. 领取工牌、笔记本电脑和入职资料包。工牌同时用作门禁卡和食堂饭卡。
3. IT服务台会为你开通邮箱、OA系统和企业微信账号。首次登录时，请按照公司信息安全规定设置登录密码并绑定手机令牌。
4. 中午由部门经理和“伙伴”陪你在员工餐厅用餐，下午参观生产车间和测试场地。进入车间前须领取安全鞋和防护眼镜。

## 入职培训“启航营”

新员工入职后统一参加公司的入职培训项目“启航营”，为期九个工作日，每月第一个周一开班。培训安排如下：

| 阶段 | 时间 | 主要内容 |
|---|---|---|
| 公司与文化 | 第1—2天 | 公司历史、组织架构、价值观、规章制度 |
| 产品与技术 | 第3—5天 | NW-200搬运机器人和NW-50巡检机器人的工作原理、现场实操、调度系统演示 |
| 安全与合规 | 第6天 | 安全生产、机器人安全操作、信息安全、反商业贿赂 |
| 部门实践 | 第7—9天 | 回到所属部门跟岗学习，完成一份实践小结 |

培训最后一天进行结业考核，考核通过后颁发结业证书。未通过的同事可以参加下一期的补考。

## 伙伴制度

每位新员工都会有一位“伙伴”。伙伴是同部门的资深同事，负责在前三个月里解答日常问题，
例如怎样申请办公用品、怎样预订会议室、部门里谁负责什么。伙伴不是你的上级，有任何问题都可以随时找他们。

## 常用系统

| 系统 | 用途 |
|---|---|
| OA系统 | 请假、出差申请、费用报销、用印申请 |
| 企业微信 | 日常沟通、通讯录、公司通知 |
| 工时系统 | 研发和工程人员按项目填报工时，每周五下班前提交 |
| 学习平台 | 在线课程、产品资料、考试 |

## 试用期

试用期的长度以劳动合同约定为准。试用期内，部门经理会与你进行两次正式面谈：第一次在入职满一个月时，
确认工作目标；第二次在试用期结束前两周，进行转正评估。转正结果由人力资源部书面通知。

## 常见问题

**问：工资每月几号发放？**
答：每月10日发放上月工资，遇节假日提前发放。

**问：忘记带工牌怎么办？**
答：到一号楼前台登记，领取当日临时门禁卡，下班前归还。

**问：电脑坏了找谁？**
答：在企业微信中搜索“IT服务台”提交报修，或直接到三楼IT服务台。

**问：可以带家属参观公司吗？**
答：可以，每年的“开放日”欢迎员工家属参观。平时参观需要提前一天在OA系统提交访客申请。
"""

SECURITY_POLICY_HTML_ZH = """\
<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>信息安全管理规定 - 北风机器人内网</title>
<style>
body { font-family: "Microsoft YaHei", "PingFang SC", sans-serif; max-width: 52rem; margin: 2rem auto;
       line-height: 1.7; }
table { border-collapse: collapse; }
th, td { border: 1px solid #999; padding: 4px 8px; }
</style>
</head>
<body>
<header>
<nav><a href="/">内网首页</a> &gt; <a href="/policies">规章制度</a> &gt; 信息技术</nav>
</header>
<main>
<h1>北风机器人信息安全管理规定</h1>
<p>文件编号：BF-IT-007　版本：4.0　归口部门：信息技术部</p>

<h2>一、目的与适用范围</h2>
<p>为保护公司的客户数据、产品源代码、设计图纸和经营信息，防止信息泄露、篡改和丢失，制定本规定。
本规定适用于公司全体员工、实习生，以及因工作需要访问公司信息系统的外包人员和供应商。</p>

<h2>二、账号与密码</h2>
<ul>
<li>登录密码长度不少于14位，须同时包含大写字母、小写字母、数字和特殊符号。</li>
<li>密码每180天更换一次，新密码不得与最近五次使用过的密码相同。</li>
<li>邮箱、VPN、代码仓库和所有可从公网访问的系统必须启用多因素认证。</li>
<li>严禁共用账号，严禁把密码写在便签上或以明文形式保存在电脑中，推荐使用公司统一部署的密码管理器。</li>
<li>员工离职或调岗时，所在部门须在最后工作日当天通知信息技术部关闭或调整权限。</li>
</ul>

<h2>三、数据分级</h2>
<table>
<thead><tr><th>级别</th><th>示例</th><th>处理要求</th></tr></thead>
<tbody>
<tr><td>公开</td><td>官网内容、已发布的产品手册</td><td>可对外发布</td></tr>
<tr><td>内部</td><td>内部通知、组织架构、一般会议纪要</td><td>仅限员工访问，不得上传到公共网盘</td></tr>
<tr><td>机密</td><td>客户现场地图、报价单、合同、产品源代码</td><td>按需授权，外发须加密并经部门经理批准</td></tr>
<tr><td>绝密</td><td>未公开的财务数据、核心算法、并购信息</td><td>指定人员访问，禁止通过邮件和即时通讯工具传送</td></tr>
</tbody>
</table>

<h2>四、终端设备</h2>
<ul>
<li>公司电脑必须开启全盘加密和公司统一的防病毒软件，不得自行卸载或关闭。</li>
<li>离开座位时须锁定屏幕；电脑在无操作五分钟后自动锁屏。</li>
<li>默认禁止使用U盘等移动存储设备。确有需要的，须向信息技术部申请经过加密的专用U盘。</li>
<li>个人手机访问公司邮箱和企业微信，须安装移动设备管理客户端。</li>
</ul>

<h2>五、远程办公与客户现场</h2>
<p>远程办公时必须通过公司VPN访问内部系统，不得使用公共场所的开放Wi-Fi处理机密及以上级别的数据。
工程师在客户现场调试机器人时，不得将客户现场地图、监控画面和生产数据拷贝到个人设备，项目结束后须按合同约定删除或交还。</p>

<h2>六、第三方与供应商</h2>
<p>供应商访问公司系统前，须签署保密协议并由业务部门提出权限申请。供应商账号默认有效期为九十天，到期自动停用。</p>

<h2>七、安全事件报告</h2>
<p>发现电脑中毒、账号被盗、设备丢失、疑似钓鱼邮件或数据泄露等安全事件，须在两小时内报告信息技术部安全组，
并保留现场，不得自行删除相关邮件或文件。信息技术部将按照安全事件响应流程进行处置，并视情况通知受影响的客户。</p>

<h2>八、违规处理</h2>
<p>违反本规定的，视情节轻重给予警告、通报批评直至解除劳动合同；造成公司或客户损失的，依法追究责任。</p>

<h2>九、附则</h2>
<p>本规定由信息技术部负责解释，自发布之日起施行。</p>
</main>
<footer><p>北风机器人内网　|　如有疑问请联系信息技术部</p></footer>
</body>
</html>
"""

NW50_FAQ_TXT_ZH = """\
NW-50 巡检机器人常见问题解答（FAQ）
适用型号：NW-50 Inspector 全系列　　文档版本：2.3　　编写部门：客户服务部

一、产品概述

问：NW-50 是什么样的机器人？
答：NW-50 是北风机器人面向变电站、数据中心、化工园区和大型厂房推出的轮式巡检机器人。它搭载可见光摄像机、
红外热像仪、拾音器和气体传感器，能够按照预设路线自动巡检，识别仪表读数、设备过热、异常声音和气体泄漏，
并把巡检结果实时上传到调度系统。

问：NW-50 适合在室外使用吗？
答：适合。NW-50 整机防护等级为IP65，可在雨天和扬尘环境中工作，工作温度范围为零下20℃至50℃。
积水深度超过80毫米的路面不建议通行。

二、电池与续航

问：一次充满电能工作多久？
答：NW-50 采用24V磷酸铁锂电池，满电状态下连续巡检最长可达11.5小时（环境温度25℃、巡检速度每秒0.8米、全部传感器开启）。
冬季低温或频繁爬坡时续航会相应缩短。

问：充电需要多长时间？
答：使用标配的自动充电桩，从电量10%充到90%约需2.5小时。机器人在电量低于20%时会自动返回充电桩。

问：电池可以自己更换吗？
答：不可以。电池更换须由经过认证的工程师完成，用户自行拆卸电池仓会影响保修。

三、巡检功能

问：可以识别哪些类型的仪表？
答：目前支持指针式压力表、温度计、油位计、数字显示屏和开关分合指示，共计40余种常见表计。
新增表计类型可以通过调度系统上传样本图片，由北风机器人技术团队完成模型适配。

问：测温精度是多少？
答：红外热像仪的测温范围为零下20℃至550℃，在距离5米以内的测温误差为±2℃或读数的±2%（取较大值）。

问：巡检路线怎么设置？
答：首次部署时由工程师使用遥控器带领机器人走一遍场地建立地图，之后在调度系统中点选巡检点、设置停留时间和拍摄角度即可。
同一张地图可以保存多条巡检路线，并按时间表自动执行。

四、故障与维护

问：机器人顶部指示灯是什么意思？
答：绿色常亮表示正常运行；绿色闪烁表示正在充电；黄色常亮表示遇到障碍正在等待；红色闪烁表示故障，
请在调度系统的告警页面查看故障代码。

问：机器人被障碍物挡住怎么办？
答：机器人会先尝试绕行；如果30秒内无法绕行，会原地等待并向调度系统发送告警，由值班人员远程处理或到现场清理障碍。

问：日常需要做哪些维护？
答：每周擦拭摄像机和热像仪镜头；每月检查轮胎磨损和底盘螺丝；每半年由工程师进行一次全面保养和传感器标定。

五、软件与数据

问：巡检数据保存在哪里？
答：巡检数据保存在客户本地部署的调度服务器上，默认保留一年，不会上传到北风机器人的云端。

问：软件如何升级？
答：调度系统发布新版本后，机器人会在下次停靠充电桩且空闲时自动下载并安装更新，整个过程约15分钟。

如以上内容没有解答你的问题，请通过客户门户提交工单，客户服务部会尽快回复。
"""

QUALITY_INTRO_ZH = "文件编号：BF-QM-001　版本：6.0　批准：总经理　归口部门：质量部"

QUALITY_BLOCKS_ZH: list[tuple[str, str]] = [
    ("h1", "一、质量方针"),
    (
        "p",
        "北风机器人的质量方针是“零缺陷交付，持续改进”。公司把产品安全放在首位，"
        "要求每一台交付给客户的机器人都经过完整的检验和测试，并通过数据驱动的方法不断降低缺陷率。",
    ),
    ("h1", "二、质量目标"),
    ("bullet", "整机出厂一次交验合格率不低于99.2%；"),
    ("bullet", "客户现场开箱合格率不低于99.8%；"),
    ("bullet", "客户质量投诉在一个工作日内给出初步回复，十个工作日内提交根本原因分析报告；"),
    ("bullet", "关键供应商的来料批次合格率不低于98.5%。"),
    ("h1", "三、来料检验"),
    (
        "p",
        "所有外购零部件入库前由来料检验组（IQC）按抽样标准进行检验。激光雷达、电池包、驱动电机和主控板属于关键物料，"
        "每批次必须进行全项检验并留存检验记录；其他物料按物料等级采用正常或加严抽样。",
    ),
    ("p", "来料检验不合格的物料应贴红色标签，放入不合格品区，由采购部通知供应商在三个工作日内处理。"),
    ("h1", "四、生产过程控制"),
    (
        "p",
        "每条装配线每班开工前必须进行首件检验，首件合格后方可批量生产。关键工序（电池包安装、安全激光雷达安装、"
        "急停回路接线）设置质量控制点，由操作员自检、班组长互检，并由质量工程师每班抽检。",
    ),
    ("p", "扭矩工具每天点检一次，每季度送计量室校准。发现工具超差时，须追溯上次点检以来使用该工具装配的全部整机。"),
    ("h1", "五、出厂检测"),
    (
        "p",
        "每台整机出厂前须完成72小时老化测试：机器人在老化测试场内按照标准任务循环满载运行，"
        "期间记录电池温度、电机电流、定位偏差和报警信息。老化测试中出现任何安全相关报警，整机须返回产线复查，"
        "复查合格后重新开始完整的老化测试。",
    ),
    (
        "p",
        "老化测试完成后，还须进行安全功能测试（急停、安全激光雷达防护区域、防撞条）、充电对接测试和外观检查。"
        "全部项目合格后，质量工程师签发出厂合格证，并将测试记录与整机序列号关联存档，保存期限不少于十年。",
    ),
    ("h1", "六、不合格品控制"),
    (
        "p",
        "生产过程中发现的不合格品须立即隔离并登记。质量部组织生产、研发和采购部门评审，"
        "决定返工、返修、让步接收或报废。"
        "涉及安全功能的不合格品不得让步接收。",
    ),
    ("h1", "七、客户投诉与纠正措施"),
    (
        "p",
        "客户服务部接到质量投诉后，应在当天录入质量管理系统并通知质量部。质量部采用8D方法组织分析，"
        "明确临时措施、根本原因和永久纠正措施，并跟踪验证措施的有效性。同类问题在十二个月内重复发生的，须升级到管理层评审。",
    ),
    ("h1", "八、内部审核与管理评审"),
    (
        "p",
        "质量部每年至少组织一次覆盖全部部门的内部质量审核。总经理每年主持一次管理评审，"
        "评价质量目标完成情况、客户满意度和改进项目，并确定下一年度的质量目标。",
    ),
]

# Slides for the bilingual PPTX: (title, [bullet lines]).
OVERVIEW_SLIDES: list[tuple[str, list[str]]] = [
    ("北风机器人公司简介\nNorthwind Robotics Company Overview", ["合作伙伴介绍材料　2025版"]),
    (
        "公司概况 / About us",
        [
            "北风机器人成立于2013年，总部位于浙江宁波",
            "专注于仓储物流搬运和工业巡检两大场景的移动机器人",
            "员工约1180人，其中研发人员占42%",
            "产品已进入18个国家和地区的仓库、工厂和变电站",
        ],
    ),
    (
        "产品与解决方案 / Products",
        [
            "NW-200 Carrier：激光导航仓储搬运机器人，适用于料箱、纸箱和小托盘搬运",
            "NW-50 Inspector：轮式巡检机器人，适用于变电站、数据中心和化工园区",
            "Fleet Manager：多机调度系统，支持地图编辑、任务分配、交通管理和数据分析",
            "CarePlus：延保与预防性维护服务",
        ],
    ),
    (
        "核心技术 / Core technology",
        [
            "自研激光SLAM导航，无需在地面铺设磁条或二维码",
            "多传感器融合避障：安全激光雷达、深度相机与防撞条",
            "大规模多机调度：单个现场可同时调度数百台机器人",
            "开放接口：REST API、VDA 5050和OPC UA，便于与WMS、MES系统集成",
        ],
    ),
    (
        "发展历程 / Milestones",
        [
            "2013年：公司在宁波成立",
            "2016年：首款激光导航搬运机器人量产",
            "2019年：NW-200 Carrier 发布",
            "2021年：NW-50 Inspector 发布，进入电力巡检市场",
            "2024年：累计交付机器人超过一万台",
        ],
    ),
    (
        "典型客户案例 / Customer stories",
        [
            "某跨境电商华东仓：部署60台NW-200，拣选区人员步行距离减少约七成",
            "某汽车零部件工厂：NW-200与产线MES对接，实现线边物料自动配送",
            "某省级电网变电站：NW-50替代夜间人工巡检，异常发现时间明显缩短",
        ],
    ),
    (
        "全球布局 / Global presence",
        [
            "宁波总部：研发、生产和测试基地",
            "深圳研发中心：导航与感知算法",
            "新加坡办公室：东南亚销售与服务",
            "杜塞尔多夫办公室：欧洲销售与服务",
        ],
    ),
    (
        "合作方式 / Working with us",
        [
            "授权经销与系统集成伙伴计划",
            "联合方案验证：提供演示机器人和测试场地",
            "官网：www.northwind-robotics.example",
        ],
    ),
]

QUESTIONS: list[dict[str, Any]] = [
    {
        "question": "How long is the standard hardware warranty on Northwind robots?",
        "lang": "en",
        "expected_source": "warranty_policy.pdf",
        "answer_contains": ["27 months"],
    },
    {
        "question": "What phone number should I call for Northwind customer support?",
        "lang": "en",
        "expected_source": "support_guide.html",
        "answer_contains": ["800-555-0142"],
    },
    {
        "question": "What is the battery capacity of the NW-200 Carrier?",
        "lang": "en",
        "expected_source": "nw200_datasheet.md",
        "answer_contains": ["1,920 Wh"],
    },
    {
        "question": "When was Fleet Manager 3.4.0 released?",
        "lang": "en",
        "expected_source": "fleet_manager_3.4_release_notes.txt",
        "answer_contains": ["14 March 2025"],
    },
    {
        "question": "How many days of paid annual leave do full-time employees get?",
        "lang": "en",
        "expected_source": "employee_handbook.docx",
        "answer_contains": ["18 working days"],
    },
    {
        "question": "What is the list price in US dollars of the standard NW-200 Carrier (NW-200-STD)?",
        "lang": "en",
        "expected_source": "price_list_2025.csv",
        "answer_contains": ["38400"],
    },
    {
        "question": "出差到一线城市，住宿费每晚的报销上限是多少？",
        "lang": "zh",
        "expected_source": "travel_policy_zh.pdf",
        "answer_contains": ["850元"],
    },
    {
        "question": "公司规定登录密码至少要多少位？",
        "lang": "zh",
        "expected_source": "security_policy_zh.html",
        "answer_contains": ["14位"],
    },
    {
        "question": "NW-50巡检机器人充满电后最长可以连续巡检多长时间？",
        "lang": "zh",
        "expected_source": "nw50_faq_zh.txt",
        "answer_contains": ["11.5小时"],
    },
    {
        "question": "北风机器人的新员工入职培训项目叫什么名字？",
        "lang": "zh",
        "expected_source": "onboarding_guide_zh.md",
        "answer_contains": ["启航营"],
    },
    {
        "question": "整机出厂前需要做多长时间的老化测试？",
        "lang": "zh",
        "expected_source": "quality_manual_zh.docx",
        "answer_contains": ["72小时"],
    },
    {
        "question": "北风机器人是哪一年成立的？",
        "lang": "zh",
        "expected_source": "company_overview.pptx",
        "answer_contains": ["2013年"],
    },
]

# --- fixtures ---------------------------------------------------------------------------------

TRUNCATED_SOURCE_BLOCKS: list[tuple[str, Any]] = [
    ("title", "Dock Maintenance Log"),
    (
        "p",
        "This log records maintenance of NW-CD2 charging docks at the demonstration site. "
        "Each entry lists the dock number, the work done and the technician's initials.",
    ),
] + [
    (
        "p",
        f"Entry {i}: dock D-{(i % 6) + 1:02d} inspected; contacts cleaned; cable strain relief checked; "
        f"charging current within limits. Technician initials: {'ABCDEFGH'[i % 8]}K.",
    )
    for i in range(1, 60)
]

NOT_REALLY_DOCX_TEXT = (
    "This is plain text, not a Word document.\n"
    "It has a .docx name so that DOCX parsing fails and the file is reported as corrupt.\n"
)

GBK_NOTES_LINES = [
    "北风机器人仓库管理规定",
    "备件仓库温度须保持在15至25摄氏度之间，相对湿度不超过60%。",
    "锂电池包须单独存放在防火柜中，每个防火柜最多存放8个电池包。",
]

UNKNOWN_XYZ_TEXT = (
    "Northwind calibration export, format version 2\n"
    "This file uses an extension that ingestion does not support and must be skipped.\n"
)

MIXED_DOCK_CHECKLIST_MD = """\
# Charging Dock Installation Checklist

Use this checklist when installing an NW-CD2 charging dock.

## Electrical

- The dock needs a dedicated 16 A circuit with its own residual-current breaker.
- Mount the socket within 1.5 m of the dock; do not use extension leads.

## Placement

- Leave 1 m of free floor in front of the dock for the robot's approach.
- Fix the dock to the floor with the four supplied anchors.
- Mark the approach area with yellow floor tape.

## Commissioning

- Record the dock position in Fleet Manager.
- Run three docking cycles and confirm that charging starts each time.
"""

MIXED_SHIFT_HANDOVER_TXT = """\
夜班交接记录规范

一、夜班交接时间为22:30，交接双方须当面完成交接，不得提前离岗。
二、交接内容包括：在线机器人数量、故障机器人及处理进展、充电桩状态、未完成的搬运任务。
三、交接记录须在调度系统的“值班日志”中填写，双方签名确认。
"""


# ---------------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------------


def _write_text(path: Path, text: str, encoding: str = "utf-8") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding=encoding, newline="\n") as fh:
        fh.write(text)


def _write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _normalize_zip(data: bytes) -> bytes:
    """Rewrite an OOXML package with fixed entry timestamps and attributes (same order, same content)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            new = zipfile.ZipInfo(info.filename, date_time=ZIP_DATE_TIME)
            new.compress_type = zipfile.ZIP_DEFLATED
            new.external_attr = 0o644 << 16
            new.create_system = 3
            dst.writestr(new, src.read(info.filename), compresslevel=6)
    return out.getvalue()


# --- PDF ---------------------------------------------------------------------------------------


def _pdf_styles(font: str, cjk: bool) -> dict[str, Any]:
    from reportlab.lib.styles import ParagraphStyle

    wrap = "CJK" if cjk else None
    base = {"fontName": font, "wordWrap": wrap}
    return {
        "title": ParagraphStyle("title", fontSize=18, leading=24, spaceAfter=6, **base),
        "subtitle": ParagraphStyle("subtitle", fontSize=9, leading=13, spaceAfter=12, textColor="#555555", **base),
        "h1": ParagraphStyle("h1", fontSize=12.5, leading=17, spaceBefore=10, spaceAfter=4, **base),
        "p": ParagraphStyle("p", fontSize=10, leading=14.5, spaceAfter=6, **base),
        "bullet": ParagraphStyle(
            "bullet", fontSize=10, leading=14.5, spaceAfter=3, leftIndent=14, bulletIndent=4, **base
        ),
        "item": ParagraphStyle("item", fontSize=10, leading=14.5, spaceAfter=3, leftIndent=24, **base),
        "note": ParagraphStyle(
            "note",
            fontSize=10.5,
            leading=15,
            spaceBefore=2,
            spaceAfter=10,
            borderWidth=0.8,
            borderColor="#333333",
            borderPadding=6,
            backColor="#F2F2F2",
            **base,
        ),
        "cell": ParagraphStyle("cell", fontSize=9, leading=12, **base),
    }


def _build_pdf(
    blocks: Sequence[tuple[str, Any]], *, title: str, author: str, subject: str, font: str, cjk: bool, footer: str
) -> bytes:
    from xml.sax.saxutils import escape

    from reportlab import rl_config
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Table, TableStyle

    rl_config.invariant = 1
    styles = _pdf_styles(font, cjk)
    story: list[Any] = []
    for kind, payload in blocks:
        if kind == "table":
            rows = [[Paragraph(escape(cell), styles["cell"]) for cell in row] for row in payload]
            table = Table(rows, hAlign="LEFT", colWidths=[22 * mm, 28 * mm, 110 * mm])
            table.setStyle(
                TableStyle(
                    [
                        ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#E6E6E6")),
                        ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ]
                )
            )
            story.append(table)
        elif kind == "bullet":
            story.append(Paragraph(escape(payload), styles["bullet"], bulletText="•"))
        else:
            story.append(Paragraph(escape(payload), styles[kind]))

    def on_page(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(font, 8)
        canvas.drawString(20 * mm, 12 * mm, footer)
        canvas.drawRightString(A4[0] - 20 * mm, 12 * mm, f"{doc.page}")
        canvas.restoreState()

    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=20 * mm,
        bottomMargin=22 * mm,
        title=title,
        author=author,
        subject=subject,
        creator="Northwind document system",
        invariant=1,
    )
    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return buf.getvalue()


def _register_cjk_font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    name = "STSong-Light"
    if name not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(name))
    return name


def warranty_pdf() -> bytes:
    return _build_pdf(
        WARRANTY_BLOCKS,
        title="Northwind Robotics Hardware Warranty Policy",
        author=AUTHOR_EN,
        subject="Hardware warranty",
        font="Helvetica",
        cjk=False,
        footer="Northwind Robotics · NR-POL-014 Hardware Warranty Policy · Version 5.1",
    )


def travel_pdf_zh() -> bytes:
    font = _register_cjk_font()
    return _build_pdf(
        TRAVEL_BLOCKS_ZH,
        title="北风机器人差旅及费用报销制度",
        author=AUTHOR_ZH,
        subject="差旅报销",
        font=font,
        cjk=True,
        footer="北风机器人　BF-FIN-021　差旅及费用报销制度",
    )


def truncated_pdf() -> bytes:
    full = _build_pdf(
        TRUNCATED_SOURCE_BLOCKS,
        title="Dock Maintenance Log",
        author=AUTHOR_EN,
        subject="Maintenance log",
        font="Helvetica",
        cjk=False,
        footer="Dock Maintenance Log",
    )
    return full[: len(full) // 2]


# --- DOCX --------------------------------------------------------------------------------------


def _docx_set_core(doc: Any, *, title: str, author: str, subject: str, language: str) -> None:
    core = doc.core_properties
    core.title = title
    core.author = author
    core.last_modified_by = author
    core.subject = subject
    core.language = language
    core.revision = 1
    core.created = FIXED_DATETIME
    core.modified = FIXED_DATETIME
    core.last_printed = FIXED_DATETIME


def _docx_bytes(doc: Any) -> bytes:
    buf = io.BytesIO()
    doc.save(buf)
    return _normalize_zip(buf.getvalue())


def _docx_add_blocks(doc: Any, blocks: Sequence[tuple[str, Any]]) -> None:
    for kind, payload in blocks:
        if kind == "h1":
            doc.add_heading(payload, level=1)
        elif kind == "p":
            doc.add_paragraph(payload)
        elif kind == "bullet":
            doc.add_paragraph(payload, style="List Bullet")
        elif kind == "table":
            header, *rows = payload
            table = doc.add_table(rows=1, cols=len(header))
            table.style = "Table Grid"
            for cell, text in zip(table.rows[0].cells, header, strict=True):
                cell.text = text
                for run in cell.paragraphs[0].runs:
                    run.bold = True
            for row in rows:
                cells = table.add_row().cells
                for cell, text in zip(cells, row, strict=True):
                    cell.text = text
            doc.add_paragraph("")
        else:
            raise ValueError(f"unknown block kind {kind!r}")


def handbook_docx() -> bytes:
    import docx

    doc = docx.Document()
    _docx_set_core(
        doc,
        title="Northwind Robotics Employee Handbook",
        author=AUTHOR_EN,
        subject="Employee handbook",
        language="en-US",
    )
    doc.add_heading("Northwind Robotics Employee Handbook", level=0)
    doc.add_paragraph(HANDBOOK_INTRO)
    _docx_add_blocks(doc, HANDBOOK_BLOCKS)
    return _docx_bytes(doc)


def quality_docx_zh() -> bytes:
    import docx
    from docx.oxml.ns import qn

    doc = docx.Document()
    _docx_set_core(doc, title="北风机器人质量管理手册（节选）", author=AUTHOR_ZH, subject="质量管理", language="zh-CN")
    for style_name in ("Normal", "Title", "Heading 1"):
        style = doc.styles[style_name]
        rpr = style.element.get_or_add_rPr()
        rfonts = rpr.find(qn("w:rFonts"))
        if rfonts is None:
            rfonts = rpr.makeelement(qn("w:rFonts"), {})
            rpr.append(rfonts)
        rfonts.set(qn("w:eastAsia"), "宋体")
    doc.add_heading("北风机器人质量管理手册（节选）", level=0)
    doc.add_paragraph(QUALITY_INTRO_ZH)
    _docx_add_blocks(doc, QUALITY_BLOCKS_ZH)
    return _docx_bytes(doc)


# --- PPTX --------------------------------------------------------------------------------------


def overview_pptx() -> bytes:
    from pptx import Presentation

    prs = Presentation()
    core = prs.core_properties
    core.title = "北风机器人公司简介 / Northwind Robotics Company Overview"
    core.author = AUTHOR_ZH
    core.last_modified_by = AUTHOR_ZH
    core.subject = "Company overview"
    core.language = "zh-CN"
    core.revision = 1
    core.created = FIXED_DATETIME
    core.modified = FIXED_DATETIME
    core.last_printed = FIXED_DATETIME

    for index, (title, lines) in enumerate(OVERVIEW_SLIDES):
        if index == 0:
            slide = prs.slides.add_slide(prs.slide_layouts[0])
            slide.shapes.title.text = title
            slide.placeholders[1].text = "\n".join(lines)
            continue
        slide = prs.slides.add_slide(prs.slide_layouts[1])
        slide.shapes.title.text = title
        frame = slide.placeholders[1].text_frame
        frame.text = lines[0]
        for line in lines[1:]:
            frame.add_paragraph().text = line
    buf = io.BytesIO()
    prs.save(buf)
    return _normalize_zip(buf.getvalue())


# --- CSV / JSONL -------------------------------------------------------------------------------


def price_list_csv() -> str:
    import csv

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerows(PRICE_LIST_ROWS)
    return buf.getvalue()


def questions_jsonl() -> str:
    return "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in QUESTIONS)


# ---------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------

DATA_FILES: dict[str, Callable[[], bytes | str]] = {
    "nw200_datasheet.md": lambda: NW200_DATASHEET_MD,
    "warranty_policy.pdf": warranty_pdf,
    "support_guide.html": lambda: SUPPORT_GUIDE_HTML,
    "fleet_manager_3.4_release_notes.txt": lambda: RELEASE_NOTES_TXT,
    "employee_handbook.docx": handbook_docx,
    "price_list_2025.csv": price_list_csv,
    "travel_policy_zh.pdf": travel_pdf_zh,
    "onboarding_guide_zh.md": lambda: ONBOARDING_MD_ZH,
    "security_policy_zh.html": lambda: SECURITY_POLICY_HTML_ZH,
    "nw50_faq_zh.txt": lambda: NW50_FAQ_TXT_ZH,
    "quality_manual_zh.docx": quality_docx_zh,
    "company_overview.pptx": overview_pptx,
}


def _emit(path: Path, content: bytes | str) -> None:
    if isinstance(content, str):
        _write_text(path, content)
    else:
        _write_bytes(path, content)


def make_data(data_dir: Path) -> list[Path]:
    """Write the sample knowledge base and ``questions.jsonl`` into ``data_dir``."""
    written = []
    for name, build in DATA_FILES.items():
        _emit(data_dir / name, build())
        written.append(data_dir / name)
    _write_text(data_dir.parent / "tests" / "e2e" / "sample_questions.jsonl", questions_jsonl())
    written.append(data_dir.parent / "tests" / "e2e" / "sample_questions.jsonl")
    return written


def make_fixtures(fixtures_dir: Path) -> list[Path]:
    """Write ``bad_files/`` and ``mixed_batch/`` under ``fixtures_dir`` (see the module docstring)."""
    bad = fixtures_dir / "bad_files"
    mixed = fixtures_dir / "mixed_batch"
    truncated = truncated_pdf()

    rng = random.Random(RANDOM_SEED)
    binary = bytearray(rng.getrandbits(8) for _ in range(512))
    for pos in range(0, len(binary), 37):  # guarantee NUL bytes throughout
        binary[pos] = 0

    files: dict[Path, bytes | str] = {
        bad / "truncated.pdf": truncated,
        bad / "not_really.docx": NOT_REALLY_DOCX_TEXT,
        bad / "empty.txt": b"",
        bad / "gbk_notes.txt": ("\n".join(GBK_NOTES_LINES) + "\n").encode("gbk"),
        bad / "binary.md": bytes(binary),
        bad / "unknown.xyz": UNKNOWN_XYZ_TEXT,
        mixed / "dock_checklist.md": MIXED_DOCK_CHECKLIST_MD,
        mixed / "shift_handover.txt": MIXED_SHIFT_HANDOVER_TXT,
        mixed / "truncated.pdf": truncated,
    }
    for path, content in files.items():
        _emit(path, content)
    return list(files)


def _load_checker() -> Any:
    path = Path(__file__).resolve().parent / "check_sample_data.py"
    spec = importlib.util.spec_from_file_location("check_sample_data", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--root",
        type=Path,
        default=REPO_ROOT,
        help="repository root to write data/ and tests/fixtures/ under (default: this repo)",
    )
    parser.add_argument("--no-check", action="store_true", help="skip the self-check after writing")
    args = parser.parse_args(argv)

    root: Path = args.root.resolve()
    written = make_data(root / "data") + make_fixtures(root / "tests" / "fixtures")
    for path in written:
        print(f"wrote {path.relative_to(root)} ({path.stat().st_size} bytes)")
    if args.no_check:
        return 0
    return int(_load_checker().main(["--root", str(root)]))


if __name__ == "__main__":
    sys.exit(main())
