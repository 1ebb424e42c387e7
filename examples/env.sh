# Settings shared by the examples; override any of them in the environment.
ERRAND_URL=${ERRAND_URL:-http://127.0.0.1:8080}   # errand serve
ERRAND_API_KEY=${ERRAND_API_KEY:-dev-key}          # its ERRAND_API_KEY (or a key from errand keys create)
SITE_URL=${SITE_URL:-http://127.0.0.1:8000}        # examples/site, served locally
HOOK_URL=${HOOK_URL:-http://127.0.0.1:9000}        # examples/receiver.py

# errand POST PATH: send the JSON on stdin to errand, print its answer, and
# fail unless errand accepted it.
errand() {
  curl -sS --fail-with-body "$ERRAND_URL$1" \
    -H "Authorization: Bearer $ERRAND_API_KEY" \
    -H 'Content-Type: application/json' \
    --data-binary @-
  echo
}
