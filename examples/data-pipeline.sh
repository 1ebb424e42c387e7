#!/bin/sh
# Data pipeline automation: extract every product of a category page into
# validated JSON, delivered straight to an ingestion endpoint.
set -eu
. "$(dirname "$0")/env.sh"

errand /start/start-session <<JSON
{
  "mode": "default",
  "initialTask": {
    "taskDetails": "Extract all product listings from the category page",
    "startingPoint": "$SITE_URL/catalog.html",
    "outputType": "structured",
    "outputSchema": {
      "type": "object",
      "properties": {
        "products": {
          "type": "array",
          "items": {
            "type": "object",
            "properties": {
              "sku": {"type": "string"},
              "name": {"type": "string"},
              "price": {"type": "number"}
            }
          }
        }
      }
    },
    "webhook": {
      "name": "Product Ingestion",
      "url": "$HOOK_URL/ingest/products",
      "auth": "Bearer ingestion-token",
      "submittedData": "ai_response",
      "events": ["task_completed", "task_failed"]
    }
  }
}
JSON
