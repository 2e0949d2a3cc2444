"""The papermill runs into the offline HTML report (build) and its index page (index)."""
