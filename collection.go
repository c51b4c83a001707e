package combine

import (
	"encoding/json"
	"fmt"
	"regexp"
)

// itemIDPattern is what a collection item's id must look like: it
// becomes part of a scope id and of step paths.
var itemIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// ItemIDRule describes itemIDPattern for error messages.
const ItemIDRule = "1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"

// CollectionItems returns the items of the array in field of a
// document's content; nil when the field is absent.
func CollectionItems(content json.RawMessage, field string) ([]json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(content, &obj); err != nil || obj == nil {
		return nil, fmt.Errorf("the document is not a JSON object")
	}
	raw, ok := obj[field]
	if !ok {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("field %q is not an array", field)
	}
	return items, nil
}

// ItemID returns the id of a collection item: its "id", or else its
// "<entityType>_id" (the original Combine's prompts ask for "epic_id",
// "story_id"). The id must be a string matching ItemIDRule.
func ItemID(item json.RawMessage, entityType string) (string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(item, &obj); err != nil || obj == nil {
		return "", fmt.Errorf("the item is not a JSON object")
	}
	key := "id"
	raw, ok := obj[key]
	if !ok && entityType != "" {
		key = entityType + "_id"
		raw, ok = obj[key]
	}
	if !ok {
		if entityType != "" {
			return "", fmt.Errorf("the item has no \"id\" (or \"%s_id\")", entityType)
		}
		return "", fmt.Errorf("the item has no \"id\"")
	}
	var id string
	if err := json.Unmarshal(raw, &id); err != nil {
		return "", fmt.Errorf("the item's %q must be a string", key)
	}
	if !itemIDPattern.MatchString(id) {
		return "", fmt.Errorf("the item's %q %q must be %s", key, id, ItemIDRule)
	}
	return id, nil
}

// ItemIDKey returns the member of item that holds its id ("id" or
// "<entityType>_id"), for error paths; "id" when neither is present.
func ItemIDKey(item json.RawMessage, entityType string) string {
	var obj map[string]json.RawMessage
	if json.Unmarshal(item, &obj) == nil && entityType != "" {
		if _, ok := obj["id"]; !ok {
			if _, ok := obj[entityType+"_id"]; ok {
				return entityType + "_id"
			}
		}
	}
	return "id"
}
