-- Issue 15: the Graph `user` profile (givenName, surname, jobTitle, businessPhones, mobilePhone,
-- officeLocation, preferredLanguage) as the tenant file declares it. One JSON object: the fields are
-- read and written together (GET /me, /users) and never filtered in SQL (the directory is read whole).
ALTER TABLE users ADD COLUMN profile_json TEXT NOT NULL DEFAULT '{}';
