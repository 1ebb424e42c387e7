package httpapi

import (
	"errors"
	"net/http"

	"github.com/errandhq/errand/internal/recipe"
	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/webhook"
)

// recipeNameRule is what a recipe name must be, as field problems say it.
const recipeNameRule = "must be 1 to 100 characters of a-z, 0-9, - and _"

// listRecipes answers GET /recipes: the learned tasks of the caller's API
// key, with their stored versions (newest first), their uses and the share
// of uses that replayed without the model.
func (a *api) listRecipes(w http.ResponseWriter, r *http.Request) error {
	list, err := a.Store.Recipes(r.Context(), tenantOf(r))
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(list))
	for _, s := range list {
		versions := make([]map[string]any, 0, len(s.Versions))
		for _, v := range s.Versions {
			versions = append(versions, map[string]any{
				"version": v.Version, "taskId": v.TaskID, "reason": v.Reason, "steps": v.Steps,
				"createdAt": webhook.FormatTime(v.CreatedAt),
			})
		}
		var last any
		if s.LastUsedAt != nil {
			last = webhook.FormatTime(*s.LastUsedAt)
		}
		out = append(out, map[string]any{
			"name": s.Name, "versions": versions, "uses": s.Uses, "replayed": s.Replayed,
			"healed": s.Healed, "failed": s.Failed, "successRate": s.SuccessRate(), "lastUsedAt": last,
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "recipes": out})
	return nil
}

// deleteRecipe answers DELETE /recipes/{name}: every version of the
// caller's recipe goes, with its statistics; the next task of that intent
// records afresh.
func (a *api) deleteRecipe(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if !recipe.ValidName(name) {
		// The name is in the path, not the body: no JSON pointer names it.
		return errorf(http.StatusBadRequest, "INVALID_REQUEST", "the request is invalid: the recipe name in the path %s", recipeNameRule)
	}
	err := a.Store.DeleteRecipe(r.Context(), tenantOf(r), name)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "RECIPE_NOT_FOUND", "there is no recipe %q for this API key", name)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "deleted": name})
	return nil
}
