#!/bin/sh
# Structured output: a product page read into the shape of
# product.schema.json, validated, and delivered as that JSON itself.
set -eu
. "$(dirname "$0")/env.sh"
schema=$(cat "$(dirname "$0")/product.schema.json")

errand /start/start-session <<JSON
{
  "mode": "default",
  "initialTask": {
    "taskDetails": "Extract product information from the page",
    "startingPoint": "$SITE_URL/product.html",
    "maxDuration": 300000,
    "outputType": "structured_json",
    "outputSchema": $schema,
    "webhook": {
      "name": "Product Webhook",
      "url": "$HOOK_URL/products",
      "auth": "Bearer token123",
      "submittedData": "ai_response"
    }
  }
}
JSON
