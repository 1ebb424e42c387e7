DROP TABLE recipe_uses;
DROP TABLE recipes;
