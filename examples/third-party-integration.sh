#!/bin/sh
# Third-party integration: contact details as JSON, posted to a catch hook
# such as Zapier's, Make's or n8n's (here the local receiver stands in).
set -eu
. "$(dirname "$0")/env.sh"

errand /start/start-session <<JSON
{
  "mode": "default",
  "initialTask": {
    "taskDetails": "Extract contact information from the page",
    "startingPoint": "$SITE_URL/contact.html",
    "outputType": "structured",
    "outputSchema": {
      "type": "object",
      "properties": {
        "name": {"type": "string"},
        "email": {"type": "string"},
        "phone": {"type": "string"}
      }
    },
    "webhook": {
      "name": "Zapier Integration",
      "url": "$HOOK_URL/hooks/catch/123456/abcdef",
      "submittedData": "ai_response"
    }
  }
}
JSON
