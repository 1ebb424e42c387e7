#!/bin/sh
# Notification system: check a product page and ping an alert endpoint when
# the check is done (just_ping: no data, the receiver polls if it cares).
# Run it from cron to watch the page, or let errand schedule it and ping only
# when the price changes: a monitor (README, "Monitor a price").
set -eu
. "$(dirname "$0")/env.sh"

errand /start/start-session <<JSON
{
  "mode": "default",
  "initialTask": {
    "taskDetails": "Monitor the page for price changes",
    "startingPoint": "$SITE_URL/product.html",
    "webhook": {
      "name": "Price Alert",
      "url": "$HOOK_URL/alerts/price-change",
      "auth": "Bearer alert-token",
      "submittedData": "just_ping"
    }
  }
}
JSON
