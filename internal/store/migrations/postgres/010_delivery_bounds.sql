-- Deliveries are bounded per project (the newest ones are kept) and a
-- forge's delivery ID seen before is looked up among the project's
-- deliveries and their repeats.
CREATE INDEX deliveries_project_status_created ON deliveries (project_id, status, created_at);
CREATE INDEX deliveries_project_redelivery ON deliveries (project_id, redelivery_of);
