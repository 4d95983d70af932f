"""The Feast feature repository: declarative definitions and one feature_store.yaml per profile."""
